"""The API documentation pages (Swagger UI at /docs, ReDoc at /redoc) with their scripts and
stylesheet served from the installed ``fastapi-offline`` package, so they work with no network.
FastAPI's own pages load them from a CDN, which leaves them blank offline."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/static/docs"
FAVICON_URL = "/static/favicon.svg"
# The files fastapi-offline ships (swagger-ui-dist 5, Apache-2.0; redoc 2, MIT) and their types.
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
# Swagger UI would otherwise ask validator.swagger.io to check a publicly reachable spec.
SWAGGER_PARAMETERS = {"validatorUrl": None}
# The pages load nothing from elsewhere: ReDoc's sidebar has a logo from its vendor's CDN,
# which the browser is told not to fetch (the page hides it). Both pages start from an inline
# script or styles, and ReDoc searches in a worker it makes from a blob.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


@cache
def _asset(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def _openapi_url(request: Request) -> str:
    url = request.app.openapi_url
    if url is None:
        raise HTTPException(404, "this service publishes no OpenAPI document")
    return f"{request.scope.get('root_path', '')}{url}"


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return _local_only(
        get_swagger_ui_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return _local_only(
        get_redoc_html(
            openapi_url=_openapi_url(request),
            title=f"{request.app.title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=FAVICON_URL,
            with_google_fonts=False,
        )
    )


@router.get(ASSETS_URL + "/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSET_TYPES:
        raise HTTPException(404, f"no documentation asset {name!r}")
    return Response(
        _asset(name), media_type=ASSET_TYPES[name], headers={"Cache-Control": "max-age=86400"}
    )
