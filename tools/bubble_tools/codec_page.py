"""The page the codec server shows at ``GET /``: people open the URL the dev stack prints in a
browser, and a bare 501 told them nothing about what the server is or how to use it."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Bubble codec server</title></head>
<body>
<h1>Bubble codec server</h1>
<p>A Temporal codec server: it shows the binary protobuf payloads of Bubble's workflows and
activities as JSON in the Temporal UI and CLI. Payloads never leave this process; it keeps no
state. There is nothing to browse here: the UI calls it from your browser.</p>
<h2>Endpoints</h2>
<ul>
<li><code>POST {url}/decode</code>: <code>{{"payloads": [...]}}</code> in, the same shape out,
our <code>binary/protobuf</code> payloads as <code>json/protobuf</code>.</li>
<li><code>POST {url}/encode</code>: the reverse.</li>
</ul>
<h2>Use it</h2>
<ul>
<li>Temporal UI: Settings (the gear, top right) &rarr; Codec Server &rarr; set the
<strong>Codec Server endpoint</strong> to <code>{url}</code> and save. The dev stack
(<code>./pants run tools:dev</code>) sets it for its UI already.</li>
<li>Temporal CLI: <code>temporal workflow show -w WORKFLOW_ID --codec-endpoint {url}</code></li>
</ul>
<p>The UI calls it from the browser, so it answers CORS only for the origins it was started with
(<code>--allow-origin</code>; the local UI by default).</p>
</body>
</html>
"""


def index_page(url: str) -> bytes:
    """The page for a server reached at ``url`` (scheme, host and port, no trailing slash)."""
    return _PAGE.format(url=escape(url, quote=True)).encode()
