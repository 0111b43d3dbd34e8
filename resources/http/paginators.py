"""Paging, as dlt's rest_api names it: a paginator of a kind (`cursor`, `link`, `page_number`,
`offset`, `single_page`) turns the first request's parameters, then each response, into the next
request, or None after the last page. `walk` is the one loop that sends them; the APIs' parameter
names and envelope keys come from resources/contracts/, as settings of these classes.

A page is the parsed response as the ingest stage receives it (`Page`); `records_of` takes the
records out of it, or raises MissingRecords: a page read as empty would look like "nothing there",
and a full read would then mark every row deleted."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from resources.http.client import RemoteError


@dataclass(frozen=True)
class Page:
    data: Any


class MissingRecords(RemoteError):
    """A page without the list (or object) it should carry. Read as empty it would look like "nothing
    there", and a full read would then mark every row deleted: the stream fails instead."""


def _missing(data: Any, key: str, where: str, single: bool) -> str:
    keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
    return (f"{where} has no {key or 'record'!r} {'object' if single else 'list'} "
            f"(the page has: {keys or 'nothing'}); nothing of it was landed")


def _records(data: Any, key: str, single: bool = False) -> list | None:
    found = data.get(key) if key and isinstance(data, dict) else None if key else data
    if isinstance(found, dict if single else list):
        return [found] if single else found
    return None


def records_of(data: Any, key: str, system: str, where: str, single: bool = False) -> list:
    """The records a page carries under `key` (the page itself when `key` is empty); `single`: one
    object. Raises MissingRecords naming `system` and `where` (stream and page) when they are not there."""
    records = _records(data, key, single)
    if records is None:
        raise MissingRecords(system, None, _missing(data, key, where, single))
    return records


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(whether the dotted `path` is there, its value) in nested objects."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


@dataclass(frozen=True)
class Request:
    path: str  # a path under the client's base URL, or a link
    params: dict | None = None


class PagingError(Exception):
    """What a paginator found wrong with a page; `walk` raises it as `kind`, naming the system."""

    def __init__(self, message: str, kind: type[RemoteError] = RemoteError):
        super().__init__(message)
        self.kind = kind


class Paginator:
    """One walk through a list: `first` request, then `next` from each response (None: that was the
    last page). An instance holds one walk's state: a new one per walk."""

    def first(self, path: str, params: Mapping | None) -> Request:
        return Request(path, dict(params) if params is not None else None)

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        raise NotImplementedError


class SinglePage(Paginator):
    """One response holds everything (an object, or a list the API does not page)."""

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        return None


class CursorPaginator(Paginator):
    """The response names the next page's cursor (`cursor_path`), sent back as `cursor_param`; an empty
    cursor is the only sign of the last page (a short page is none)."""

    def __init__(self, page_size: int, cursor_path: str, cursor_param: str, limit_param: str):
        self.page_size, self.cursor_path = page_size, cursor_path
        self.cursor_param, self.limit_param = cursor_param, limit_param

    def first(self, path: str, params: Mapping | None) -> Request:
        return Request(path, {self.limit_param: self.page_size, **(params or {})})

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        cursor = lookup(data, self.cursor_path)[1]
        return Request(request.path, {**request.params, self.cursor_param: cursor}) if cursor else None


class LinkPaginator(Paginator):
    """The response holds the next page's link (`next_url_path`), which carries its own query; none is
    the last page. The client's credentials go with every request, so a link is followed only on the
    origin of the first page (the base URL's): a link elsewhere is an error, never requested."""

    def __init__(self, next_url_path: str):
        self.next_url_path, self.origin, self.path = next_url_path, None, ""

    def first(self, path: str, params: Mapping | None) -> Request:
        self.path = path
        return Request(path, dict(params or {}))

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        self.origin = self.origin or (response.url.scheme, response.url.host, response.url.port)
        href = lookup(data, self.next_url_path)[1]
        if not href:
            return None
        link = httpx.URL(href)  # a link without a host stays under the base URL
        if link.host and (link.scheme, link.host, link.port) != self.origin:
            elsewhere = f"{link.scheme}://{link.host}" + (f":{link.port}" if link.port else "")
            raise PagingError(f"{self.path}: next link leads to another origin ({elsewhere}); not followed, "
                              "as it would receive our token")
        return Request(href, None)


class PageNumberPaginator(Paginator):
    """Pages by number (`page_param`, from 1) of `page_size` records (`size_param`). The last page: with
    a total (`total_path`), an empty page or the total reached; without, a short page."""

    def __init__(self, page_size: int, page_param: str, size_param: str, records_path: str,
                 total_path: str | None = None):
        self.page_size, self.page_param, self.size_param = page_size, page_param, size_param
        self.records_path, self.total_path, self.page, self.seen = records_path, total_path, 1, 0

    def first(self, path: str, params: Mapping | None) -> Request:
        return Request(path, {**(params or {}), self.page_param: self.page, self.size_param: self.page_size})

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        count = len(lookup(data, self.records_path)[1] or [])
        self.seen += count
        last = (not count or self.seen >= (lookup(data, self.total_path)[1] or 0)) if self.total_path \
            else count < self.page_size
        if last:
            return None
        self.page += 1
        return Request(request.path, {**request.params, self.page_param: self.page})


class OffsetPaginator(Paginator):
    """Pages by offset (`offset_param`) of at most `page_size` records (`limit_param`), until the API
    says it was the last page: the total (the first of `total_paths` present) is reached, or, without a
    total, an empty page. A short page is no such sign (a server may cap a page below the limit):
    stopping there once read 100 invoices of 1,000, and a full read then marked the rest deleted."""

    def __init__(self, page_size: int, records_path: str, offset_param: str, limit_param: str,
                 total_paths: tuple[str, ...]):
        self.page_size, self.records_path = page_size, records_path
        self.offset_param, self.limit_param, self.total_paths = offset_param, limit_param, total_paths
        self.base, self.offset = {}, 0

    def first(self, path: str, params: Mapping | None) -> Request:
        self.base = dict(params or {})
        return self._at(path, 0)

    def _at(self, path: str, offset: int) -> Request:
        return Request(path, {**self.base, self.offset_param: offset, self.limit_param: self.page_size})

    def next(self, request: Request, response: httpx.Response, data: Any) -> Request | None:
        records = _records(data, self.records_path)
        if records is None:
            raise PagingError(_missing(data, self.records_path, f"{request.path} at offset {self.offset}", False),
                              MissingRecords)
        count = len(records)
        total = next((value for found, value in (lookup(data, p) for p in self.total_paths) if found), None)
        self.offset += count
        if (self.offset >= int(total)) if total is not None else count == 0:
            return None
        if count == 0:  # the offset would not move: asking again would loop, stopping would lose rows
            raise PagingError(f"{request.path}: empty page at offset {self.offset} though the total says {total}")
        return self._at(request.path, self.offset)


PAGINATORS: dict[str, type[Paginator]] = {
    "single_page": SinglePage,
    "cursor": CursorPaginator,
    "link": LinkPaginator,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
}


def paginator(kind: str, **settings: Any) -> Paginator:
    """A new paginator of `kind` with its settings (those the kind does not take are left out, so an
    API's settings and a client's page size can be handed to every kind)."""
    cls = PAGINATORS[kind]
    takes = inspect.signature(cls).parameters
    return cls(**{name: value for name, value in settings.items() if name in takes})


Get = Callable[[str, "dict | None"], httpx.Response]


def walk(get: Get, system: str, path: str, pager: Paginator, params: Mapping | None = None,
         max_pages: int = 100_000) -> Iterator[Page]:
    """Every page of `path`, one request after the other as `pager` says, sent by `get(path, params)`
    (the client's GET, with its retries, error translation and headers). A paginator's complaint is a
    RemoteError naming `system`; more than `max_pages` pages is one too."""
    request = pager.first(path, params)
    for _ in range(max_pages):
        response = get(request.path, request.params)
        data = response.json()
        try:
            request = pager.next(request, response, data)
        except PagingError as error:
            raise error.kind(system, None, str(error)) from None
        yield Page(data)
        if request is None:
            return
    raise RemoteError(system, None, f"{path} still had pages after max_pages={max_pages}")


class Lists:
    """A client's side of paging: its API's paginators by kind (`paging`, from its contract), its page
    size and page limit, and its GET (`_get`: a client may translate errors or add headers there)."""

    paging: Mapping[str, Mapping[str, Any]] = {}
    page_size: int | None = None
    max_pages: int = 100_000
    path_values: Mapping[str, Any] = {}  # what fills a path's names for this client (an account id)
    http: Any  # the ApiClient

    def _get(self, path: str, params: dict | None) -> httpx.Response:
        return self.http.request("GET", path, params=params)

    def walk(self, path: str, kind: str, params: Mapping | None = None, records_key: str = "") -> Iterator[Page]:
        """Every page of `path`, paged as the API's paginator of `kind`; `records_key`: where a page's
        records are (the kinds that count them need it)."""
        pager = paginator(kind, **{"page_size": self.page_size, "records_path": records_key, **self.paging[kind]})
        return walk(self._get, self.http.system, path, pager, params, self.max_pages)
