# One image recipe for every Python process of the system: it runs a PEX that Pants built.
#   ./pants package services/worker:worker services/processing:service \
#       libs/shared/bubble_shared/store:migrate tools:codec-server
#   docker compose build
# The PEX files are built for CPython 3.11 on linux x86_64 (manylinux wheels), which this base
# image provides.
FROM python:3.11-slim

ARG PEX
RUN useradd --create-home --uid 10001 bubble \
    && mkdir -p /srv/media \
    && chown bubble /srv/media
COPY --chmod=0755 ${PEX} /app/app.pex
USER bubble
# PEX unpacks its dependencies here on first start; a writable home keeps the image read-only.
ENV PEX_ROOT=/home/bubble/.pex \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["/app/app.pex"]
