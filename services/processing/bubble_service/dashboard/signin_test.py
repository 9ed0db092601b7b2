"""With AUTH_TOKENS set the dashboard asks for a token and shows only what it may see."""

from __future__ import annotations

from bubble.processing.v1 import analysis_pb2
from bubble_service.dashboard.conftest import TOKEN_A, TOKEN_ALL, Site
from bubble_service.dashboard.signin import COOKIE, safe_next
from bubble_shared.store import NewBatch


def _sign_in(site: Site, token: str, target: str = "/") -> None:
    answer = site.client.post("/login", data={"token": token, "next": target})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == target


def test_pages_ask_for_a_token_and_come_back_after_it(secured_site: Site) -> None:
    site = secured_site
    asked = site.client.get("/", params={"status": "FAILED"})
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2F%3Fstatus%3DFAILED"
    assert site.client.get("/items/x/images/y/thumbnail").status_code == 401
    assert site.client.get("/batches/b/progress").status_code == 401
    assert site.client.get("/healthz").status_code == 200
    assert "Token" in site.client.get("/login").text

    wrong = site.client.post("/login", data={"token": "not-a-token-at-all", "next": "/"})
    assert wrong.status_code == 401
    assert "That token is not valid." in wrong.text

    answer = site.client.post("/login", data={"token": TOKEN_ALL, "next": "/?status=FAILED"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/?status=FAILED"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert site.client.get("/").status_code == 200

    site.client.post("/logout")
    site.client.cookies.clear()
    assert site.client.get("/").status_code == 303


def test_a_bearer_header_works_too(secured_site: Site) -> None:
    headers = {"authorization": f"Bearer {TOKEN_ALL}"}
    assert secured_site.client.get("/", headers=headers).status_code == 200
    headers = {"authorization": "Bearer wrong-token-wrong-token"}
    assert secured_site.client.get("/", headers=headers).status_code == 303


def test_a_restricted_token_sees_only_its_owners(secured_site: Site) -> None:
    site = secured_site
    thumbnail = site.thumbnail_file("ab/b_128.webp")
    site.item("mine", owner_id="owner-a", suggestions=analysis_pb2.ItemSuggestions(title="Mine"))
    site.item(
        "theirs",
        owner_id="owner-b",
        thumbnail_uri=thumbnail,
        suggestions=analysis_pb2.ItemSuggestions(title="Theirs"),
    )
    site.batches.create(
        NewBatch(
            batch_id="b-of-a",
            workflow_id="w-a",
            max_concurrency=1,
            item_ids=["mine"],
            owner_ids=frozenset({"owner-a"}),
        )
    )
    site.batches.create(
        NewBatch(batch_id="b-of-all", workflow_id="w-all", max_concurrency=1, item_ids=["theirs"])
    )
    theirs_image = site.items.get_item("theirs").images[0].image_id
    _sign_in(site, TOKEN_A)

    listing = site.client.get("/").text
    assert "<code>mine</code>" in listing
    assert "<code>theirs</code>" not in listing
    denied = site.client.get("/", params={"owner": "owner-b"})
    assert denied.status_code == 403
    assert "may not see the items of owner" in denied.text
    assert site.client.get("/items/theirs").status_code == 404
    assert site.client.get(f"/items/theirs/images/{theirs_image}/thumbnail").status_code == 404
    batches = site.client.get("/batches").text
    assert "b-of-a" in batches
    assert "b-of-all" not in batches
    assert site.client.get("/batches/b-of-all").status_code == 404
    assert site.client.get("/batches/b-of-all/progress").status_code == 404

    _sign_in(site, TOKEN_ALL)
    assert "<code>theirs</code>" in site.client.get("/").text
    assert site.client.get(f"/items/theirs/images/{theirs_image}/thumbnail").status_code == 200


def test_signing_in_leads_only_to_this_dashboard() -> None:
    assert safe_next("/batches/b?x=1") == "/batches/b?x=1"
    for elsewhere in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:x",
    ):
        assert safe_next(elsewhere) == "/"
