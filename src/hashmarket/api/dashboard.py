"""The web dashboard: HTML pages, the stylesheet and script, and Plotly from the installed
package (served locally, so the dashboard works with no network)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

# path, page file, navigation label, page title
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("/", "hashprice", "Hashprice", "Hashprice index"),
    ("/curve", "curve", "Forward curve", "Hashprice forward curve"),
    ("/pricing", "pricing", "Pricing", "Price a contract"),
    ("/tokens", "tokens", "Tokens", "Hashrate tokens"),
    ("/miner", "miner", "Miner", "Miner economics"),
    ("/dispatch", "dispatch", "Dispatch", "Mine, serve AI or curtail"),
    ("/delivery", "delivery", "Delivery", "Delivered against ordered work"),
    ("/market", "market", "Market", "Exchange order books and trades"),
    ("/fund", "fund", "Fund", "Hashrate fund"),
)
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


@cache
def _asset(folder: str, name: str) -> bytes:
    return resources.files("hashmarket.api").joinpath(folder, name).read_bytes()


def _text(folder: str, name: str) -> str:
    return _asset(folder, name).decode("utf-8")


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def render(path: str) -> str:
    page = next(p for p in PAGES if p[0] == path)
    active = ' class="active" aria-current="page"'
    nav = "\n".join(f'<a href="{p[0]}"{active if p[0] == path else ""}>{p[2]}</a>' for p in PAGES)
    return Template(_text("pages", "layout.html")).substitute(
        title=page[3], page=page[1], nav=nav, content=_text("pages", f"{page[1]}.html")
    )


def _page_route(path: str) -> None:
    def page() -> HTMLResponse:
        return HTMLResponse(render(path))

    router.add_api_route(
        path, page, methods=["GET"], response_class=HTMLResponse, name=f"page{path}"
    )


for _path, *_ in PAGES:
    _page_route(_path)


@router.get("/static/plotly.min.js")
def plotly_script() -> Response:
    return Response(
        plotly_js(), media_type=STATIC_TYPES[".js"], headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for on their own, beside the SVG the pages link."""
    return static_file("favicon.ico")


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    # Names of the shipped files only: a NUL, a separator or a leading dot never reaches open().
    plain = all(c.isalnum() or c in "-_." for c in name) and not name.startswith(".")
    if suffix not in STATIC_TYPES or not plain:
        raise HTTPException(404, f"no static file {name!r}")
    try:
        return Response(_asset("static", name), media_type=STATIC_TYPES[suffix])
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise HTTPException(404, f"no static file {name!r}") from None
