"""The invite and login email templates: built-in defaults, admins' edits, checking and rendering.

Templates use Jinja2 custom values such as `{{ contact.first_name }}`, rendered in Jinja's immutable sandbox
with `StrictUndefined`, no globals (`range`, `lipsum`, `namespace`, `dict` ... are unknown names) and no
attribute of any Python object (`{{ contact.email.upper }}` is refused, never printed as `<built-in method>`), so
a template can neither reach into Python objects nor print an empty string where a value was misspelt. Every check happens when a template is *saved*: an unknown value, a syntax error or a
body without the magic link is refused then, with the part and the line, never in the middle of a batch. The
link must be proven present for every contact: `{{ link.url }}` has to appear outside any `{% if %}` and any
condition, which the syntax tree shows (rendering sample contacts cannot: `{% if contact.company != 'X' %}`
passes every sample and drops the link for company X).

Rendering can still fail for one real contact (`{{ contact.last_name[1] }}` and a one-letter name) or make a
subject longer than `MAX_SUBJECT_CHARS` (a very long agency name): `Renderer.render` then raises `RenderError`,
naming the part, and the sender fails that one email and goes on with the batch. Contact data and the agency
name lose control characters and bidirectional-text controls (`BIDI_CONTROLS`) before they reach an email, so a
name cannot reverse the text around it.
The HTML body is autoescaped (a contact named `<script>` arrives as text); the text body and the subject are
not HTML and are not escaped.

The sandbox stops a template from reaching Python internals, but not from running for ever or filling memory
(`{% for %}` nested over a string, a recursive macro, `'x' * 10**9`, `10**10**10`, which Jinja even folds while
compiling). An email template needs none of that, so saving also checks the template's syntax tree against an
allowlist (`_ALLOWED_NODES`, `ALLOWED_FILTERS`): output, conditions, custom values and a few string filters.

Edits are stored with `models.templates`; a template that was never edited is the default shipped in
`mail/default_templates/`.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

import jinja2
import markupsafe
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import meta as jinja_meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from models import clock, settings
from models import templates as stored_templates
from models.contacts import ContactRow
from models.domains import portal_url
from models.errors import InvalidInput, NotFound
from models.links import LINK_PATH, ttl

TEMPLATE_NAMES = ("invite", "login")
"""The templates there are: one per kind of email (and per magic-link purpose)."""

PLACEHOLDERS: dict[str, str] = {
    "contact.first_name": 'the contact\'s first name (may be empty: {{ contact.first_name or "there" }})',
    "contact.last_name": "the contact's last name (may be empty)",
    "contact.full_name": "first and last name together (may be empty)",
    "contact.email": "the contact's email address",
    "contact.company": "the contact's company (may be empty)",
    "link.url": "the magic link: one click signs the contact in (required in both bodies)",
    "link.expires_at": "when the link stops working, e.g. 25 November 2026, 09:30 UTC",
    "link.valid_for": "how long the link is valid, e.g. 24 hours or 7 days",
    "portal.url": "the portal's address, built from the selected domain",
    "agency.name": "who the email is from: the agency_name setting",
}
"""Every custom value a template may use, with a description for help screens."""

NAMESPACES = frozenset(key.split(".", 1)[0] for key in PLACEHOLDERS)

PART_LABELS = {"subject": "subject", "text_body": "text body", "html_body": "HTML body"}
"""How each part of a template is named in messages to the user."""

MAX_TEMPLATE_CHARS = 100_000
"""Longest part we accept: far beyond any real email, short enough that a pasted binary is refused."""

PREVIEW_LINK_TOKEN = "<link made when sent>"
"""Stands in for the token in a preview; a real token exists only while an email is being sent."""

ALLOWED_FILTERS = frozenset({
    "capitalize", "count", "d", "default", "e", "escape", "first", "last", "length", "lower", "string",
    "striptags", "title", "trim", "truncate", "upper", "urlencode", "wordcount",
})
"""Filters a template may use: none of them can make its output much longer than its input, or mark data safe."""

_ALLOWED_NODES = frozenset({
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.If, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Compare,
    nodes.Operand, nodes.Concat, nodes.Add, nodes.Sub, nodes.Div, nodes.FloorDiv, nodes.Filter, nodes.Test,
    nodes.Keyword, nodes.Tuple, nodes.List,
})
"""Syntax a template may use. Everything else either loops, calls, multiplies sizes or turns escaping off."""

_REFUSED_NODES = {
    nodes.For: "loops ({% for %}): an email has no list to go through",
    nodes.Macro: "macros ({% macro %})",
    nodes.CallBlock: "{% call %} blocks",
    nodes.Call: "calling a function",
    nodes.Mul: "the * operator (it can make an email of any size)",
    nodes.Pow: "the ** operator (it can make a number of any size)",
    nodes.Mod: "the % operator (it can make an email of any size)",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.With: "{% with %}",
    nodes.FilterBlock: "{% filter %} blocks",
    nodes.Scope: "{% autoescape %}: contact data in the HTML body is always escaped",
    nodes.EvalContextModifier: "{% autoescape %}: contact data in the HTML body is always escaped",
    nodes.ScopedEvalContextModifier: "{% autoescape %}: contact data in the HTML body is always escaped",
}
"""What the refusal says for the syntax people are most likely to try."""

MAX_SUBJECT_CHARS = 500
"""Longest subject an email may have once rendered: more than any mail client shows, far below the 998 characters
of a header line. A longer one (a huge agency name) fails that email with a clear reason, never a 120 kB header."""

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Bidirectional-text controls (ALM, LRM, RLM, the embeddings and overrides, the isolates). In a name they can
reverse what follows (`\u202egnp.exe` shows as `exe.png`) in the To line, the subject or the body, so they are
removed from everything an email takes from contact data or settings."""

_LINK_FILTERS = frozenset({"e", "escape", "string"})
"""Filters that leave the link as it is: `{{ link.url|e }}` still proves that the link is in the email."""

_DEFAULT_FILES = {"subject": "{name}.subject", "text_body": "{name}.txt", "html_body": "{name}.html"}
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


@dataclass(frozen=True)
class TemplateSource:
    """A template's three parts as they will be used, and whether they are the built-in default."""

    subject: str
    text_body: str
    html_body: str
    is_default: bool


@dataclass(frozen=True)
class RenderedEmail:
    """One email's text, ready to be put in a message: a one-line subject, the plain text and the HTML."""

    subject: str
    text: str
    html: str


class RenderError(InvalidInput):
    """One email cannot be made for one contact; `str()` names the template, the part and the reason in one line."""


def _refuse_callables(value):
    """Jinja's `finalize`: a function or method is never printed (`<built-in method upper of str object at 0x...>`)."""
    if callable(value) and not isinstance(value, jinja2.Undefined):
        raise SecurityError(f"{type(value).__name__} is not a value a template can print")
    return value


class _MailSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with nothing in it but the custom values.

    No globals (`range`, `lipsum`, `cycler`, `joiner`, `namespace`, `dict`), and no attribute of any Python object:
    the custom values are dictionaries of strings, so `contact.email` is an item, and `contact.email.upper` (a
    method of `str`) is refused rather than printed.
    """

    def __init__(self, **options) -> None:
        super().__init__(undefined=StrictUndefined, keep_trailing_newline=True, finalize=_refuse_callables, **options)
        self.globals.clear()

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        return False

    def is_safe_callable(self, obj) -> bool:
        return False


# Two environments because only HTML is escaped. Both are sandboxed (a template cannot call into Python
# objects' internals) and strict (a misspelt value is an error, not an empty string).
_TEXT_ENV = _MailSandbox(autoescape=False)
_HTML_ENV = _MailSandbox(autoescape=True)


def _env(part: str) -> jinja2.Environment:
    return _HTML_ENV if part == "html_body" else _TEXT_ENV


@functools.lru_cache(maxsize=64)
def _compiled(part: str, source: str) -> jinja2.Template:
    """Compile once per distinct source: a batch renders the same few templates thousands of times."""
    return _env(part).from_string(source)


def _check_name(name: str) -> None:
    if name not in TEMPLATE_NAMES:
        raise NotFound(f"no template named {name!r}; the templates are {', '.join(TEMPLATE_NAMES)}")


@functools.cache
def default_template(name: str) -> TemplateSource:
    """The built-in template `name`, as shipped in `mail/default_templates/`."""
    _check_name(name)
    folder = resources.files("mail") / "default_templates"
    parts = {part: (folder / pattern.format(name=name)).read_text(encoding="utf-8")
             for part, pattern in _DEFAULT_FILES.items()}
    return TemplateSource(
        subject=parts["subject"].strip(), text_body=parts["text_body"], html_body=parts["html_body"], is_default=True
    )


def get_template(name: str) -> TemplateSource:
    """Template `name` as it will be sent: the stored edit, else the built-in default.

    Raises:
        NotFound: `name` is not one of `TEMPLATE_NAMES`.
    """
    _check_name(name)
    stored = stored_templates.get_stored(name)
    if stored is None:
        return default_template(name)
    return TemplateSource(stored.subject, stored.text_body, stored.html_body, is_default=False)


def save_template(
    name: str, subject: str | None = None, text_body: str | None = None, html_body: str | None = None
) -> None:
    """Store an edit of template `name`; the parts not given keep their current text. Text equal to the built-in
    template goes back to it (nothing is stored).

    Raises:
        NotFound: `name` is not a template.
        InvalidInput: a part has a syntax error, uses an unknown custom value, or a body lacks the magic link;
            the message names the part, the line and the value. Nothing is stored then.
    """
    current = get_template(name)
    if subject is None and text_body is None and html_body is None:
        raise InvalidInput("give a new subject, text body or HTML body")
    merged = {
        "subject": current.subject if subject is None else subject.strip(),
        "text_body": current.text_body if text_body is None else _normalise_newlines(text_body),
        "html_body": current.html_body if html_body is None else _normalise_newlines(html_body),
    }
    validate(name, **merged)
    default = default_template(name)
    if merged == {"subject": default.subject, "text_body": default.text_body, "html_body": default.html_body}:
        # The built-in text itself (a save with no edit, or an edit undone by hand): keep following the built-in
        # template, rather than store a copy marked "edited" that a newer version's default would not replace.
        stored_templates.delete_stored(name)
        return
    stored_templates.store(name, merged["subject"], merged["text_body"], merged["html_body"])


def reset_template(name: str) -> None:
    """Go back to the built-in default of template `name` (forgets the stored edit, if any)."""
    _check_name(name)
    stored_templates.delete_stored(name)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- checking -------------------------------------------------------------------------------------------------


def validate(name: str, subject: str, text_body: str, html_body: str) -> None:
    """Refuse a template that could fail or mislead when sent.

    Checks each part's syntax and custom values, then renders it for two sample contacts (one with every field
    filled, one with only an address) so that a filter or test that breaks on an empty name is caught now.

    Raises:
        InvalidInput: naming the template, the part, the line and the problem.
    """
    parts = {"subject": subject, "text_body": text_body, "html_body": html_body}
    for part, source in parts.items():
        where = f"the {name} {PART_LABELS[part]}"
        if len(source) > MAX_TEMPLATE_CHARS:
            raise InvalidInput(f"{where} is {len(source):,} characters long; at most {MAX_TEMPLATE_CHARS:,}")
        if "\x00" in source:
            raise InvalidInput(f"{where} contains a NUL byte")
        try:
            tree = _env(part).parse(source)
            _check_values(tree, where)
            template = _compiled(part, source)
            if part != "subject" and not _link_always_rendered(tree):
                raise InvalidInput(
                    f"{where} must contain the magic link {{{{ link.url }}}} outside any {{% if %}} and any "
                    "condition, and unchanged (no filter but |e), so that every contact gets it"
                )
        except TemplateSyntaxError as exc:
            raise InvalidInput(f"{where}, line {exc.lineno}: syntax error: {exc.message}") from None
        except RecursionError:  # `((((...` or `{% if %}` thousands deep: the parser recurses once per level
            raise InvalidInput(f"{where} is nested too deeply") from None
        for sample in _SAMPLES:
            try:
                output = template.render(sample)
            except jinja2.UndefinedError as exc:
                raise InvalidInput(f"{where}: unknown value: {exc.message}") from None
            except SecurityError as exc:
                raise InvalidInput(f"{where}: not allowed in a template: {exc}") from None
            except Exception as exc:  # any runtime error a template can raise (a bad filter argument, 1/0)
                raise InvalidInput(f"{where}: cannot be rendered: {exc}") from None
            if part == "subject" and not _one_line(output):
                raise InvalidInput(f"{where} is empty for a contact with {_sample_label(sample)}")
            if part == "subject" and len(_one_line(output)) > MAX_SUBJECT_CHARS:
                raise InvalidInput(f"{where} is {len(_one_line(output)):,} characters long once filled in; "
                                   f"at most {MAX_SUBJECT_CHARS:,}")
            if part != "subject" and sample["link"]["url"] not in output:
                raise InvalidInput(
                    f"{where} must contain the magic link {{{{ link.url }}}}"
                    + ("" if sample is _SAMPLES[0] else f" for a contact with {_sample_label(sample)}")
                )


def _check_values(tree: nodes.Template, where: str) -> None:
    """Refuse any custom value not in `PLACEHOLDERS`, naming it, its line and the nearest known value."""
    # The allowlist first: finding undeclared values compiles the tree, and Jinja folds constants while compiling
    # (`'x' * 10**9` would be built right here).
    _walk(tree, None, where)
    lines: dict[str, int] = {}
    for name_node in tree.find_all(nodes.Name):
        lines.setdefault(name_node.name, name_node.lineno)
    for root in sorted(jinja_meta.find_undeclared_variables(tree)):
        if root not in NAMESPACES:
            raise InvalidInput(f"{where}, line {lines.get(root, 1)}: unknown value {{{{ {root} }}}}{_suggest(root)}")


def _link_always_rendered(tree: nodes.Template) -> bool:
    """Whether `{{ link.url }}` is output whatever the contact: at the top level, not in an `{% if %}`, not in a
    condition (`a if b else c`, `a and b`), and unchanged (no filter but `e`, `escape` or `string`).

    `_check_allowed` has refused loops, macros, blocks and calls, so the top level of the body is all that runs
    for every contact.
    """
    for node in tree.body:
        if isinstance(node, nodes.Output) and any(_is_plain_link(expr) for expr in node.nodes):
            return True
    return False


def _is_plain_link(expr: nodes.Node) -> bool:
    while isinstance(expr, nodes.Filter) and expr.name in _LINK_FILTERS and not expr.args and not expr.kwargs:
        expr = expr.node
    return (isinstance(expr, nodes.Getattr) and expr.attr == "url" and isinstance(expr.node, nodes.Name)
            and expr.node.name == "link")


def _is_index(arg: nodes.Node) -> bool:
    """`[0]`, `[-1]` or `[1:3]`: a character or a slice of a custom value (which is a string)."""
    if isinstance(arg, nodes.Neg):
        arg = arg.node
    if isinstance(arg, nodes.Const):
        return isinstance(arg.value, int) and not isinstance(arg.value, bool)
    return isinstance(arg, nodes.Slice) and all(
        part is None or _is_index(part) for part in (arg.start, arg.stop, arg.step)
    )


def _walk(node: nodes.Node, parent: nodes.Node | None, where: str) -> None:
    _check_allowed(node, where)
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in NAMESPACES:
        # Jinja's globals (`range`, `lipsum`, `self` ...) and anything else that is not a custom value.
        raise InvalidInput(
            f"{where}, line {node.lineno}: unknown value {{{{ {node.name} }}}}{_suggest(node.name)}"
        )
    if isinstance(node, nodes.Getattr) and not isinstance(node.node, nodes.Name):
        # `contact.email.upper`: a custom value is text, it has no fields (a method would print as `<built-in ...>`).
        raise InvalidInput(
            f"{where}, line {node.lineno}: not allowed in a template: .{node.attr} after a custom value "
            "(a value has no fields or methods; use a filter such as |upper)"
        )
    if isinstance(node, nodes.Getitem) and not isinstance(node.node, nodes.Name) and not _is_index(node.arg):
        raise InvalidInput(
            f"{where}, line {node.lineno}: not allowed in a template: [...] after a custom value "
            "(only a character or a slice, such as [0] or [:20])"
        )
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in NAMESPACES:
        if isinstance(parent, nodes.Getattr) and parent.node is node:
            dotted = f"{node.name}.{parent.attr}"
        elif isinstance(parent, nodes.Getitem) and parent.node is node and isinstance(parent.arg, nodes.Const):
            dotted = f"{node.name}.{parent.arg.value}"
        else:
            fields = ", ".join(k for k in PLACEHOLDERS if k.startswith(node.name + "."))
            raise InvalidInput(
                f"{where}, line {node.lineno}: {{{{ {node.name} }}}} needs a field: one of {fields}"
            )
        if dotted not in PLACEHOLDERS:
            raise InvalidInput(f"{where}, line {node.lineno}: unknown value {{{{ {dotted} }}}}{_suggest(dotted)}")
    for child in node.iter_child_nodes():
        _walk(child, node, where)


def _check_allowed(node: nodes.Node, where: str) -> None:
    """Refuse syntax outside `_ALLOWED_NODES`, filters outside `ALLOWED_FILTERS` and `_`-prefixed attributes."""
    line = getattr(node, "lineno", None) or 1
    refused = f"{where}, line {line}: not allowed in a template: "
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise InvalidInput(f"{refused}access to attribute {node.attr!r}")
    if (isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")):
        raise InvalidInput(f"{refused}access to attribute {node.arg.value!r}")
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        raise InvalidInput(f"{refused}the filter |{node.name} (allowed: {', '.join(sorted(ALLOWED_FILTERS))})")
    if type(node) not in _ALLOWED_NODES:
        what = _REFUSED_NODES.get(type(node), f"{type(node).__name__} syntax")
        raise InvalidInput(f"{refused}{what}")


def _suggest(value: str) -> str:
    root, _, leaf = value.rpartition(".")
    leaves = {key.rsplit(".", 1)[-1]: key for key in PLACEHOLDERS if not root or key.startswith(root + ".")}
    exact = [key for key in PLACEHOLDERS if key.rsplit(".", 1)[-1] == leaf]
    close = exact or [leaves[m] for m in difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.7)]
    hint = f"; did you mean {{{{ {close[0]} }}}}?" if close else ""
    return f"{hint} (known values: {', '.join(PLACEHOLDERS)})"


def _sample_label(sample: dict) -> str:
    return "every field filled in" if sample["contact"]["first_name"] else "only an email address"


def _one_line(text: str) -> str:
    """A header-safe line: control characters dropped, every run of whitespace (newlines too) one space."""
    return " ".join(_CONTROL.sub("", text).split())


# --- rendering ------------------------------------------------------------------------------------------------


def _clean(value: str) -> str:
    """Contact data as it goes into an email: control characters (terminal escapes, NULs) removed."""
    return _CONTROL.sub("", value or "")


def format_expiry(at: datetime) -> str:
    """`25 November 2026, 09:30 UTC`, without depending on the process locale."""
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year}, {at:%H:%M} UTC"


def format_duration(delta: timedelta) -> str:
    """`7 days`, `24 hours`, `90 minutes`: the unit a person would use for how long a link lasts."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes and minutes % (60 * 24) == 0 and minutes > 60 * 24:
        n, unit = minutes // (60 * 24), "day"
    elif minutes and minutes % 60 == 0:
        n, unit = minutes // 60, "hour"
    else:
        n, unit = minutes, "minute"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _context(contact: ContactRow, link_url: str, valid_for: timedelta, expires_at: datetime,
             portal: str, agency: str) -> dict:
    first, last = _clean(contact.first_name), _clean(contact.last_name)
    return {
        "contact": {
            "first_name": first,
            "last_name": last,
            "full_name": " ".join(p for p in (first, last) if p),
            "email": _clean(contact.email),
            "company": _clean(contact.company),
        },
        "link": {"url": link_url, "expires_at": format_expiry(expires_at), "valid_for": format_duration(valid_for)},
        "portal": {"url": portal},
        "agency": {"name": _clean(agency)},
    }


def _sample_contexts() -> tuple[dict, dict]:
    when = datetime(2026, 11, 25, 9, 30)
    link = "https://portal.example.com/login/" + "A" * 43
    full = ContactRow(id=0, email="ada@example.com", first_name="Ada", last_name="Lovelace", company="Acme Ltd",
                      phone="", status="invited", invited_at=None, last_login_at=None)
    bare = ContactRow(id=0, email="x@example.com", first_name="", last_name="", company="", phone="",
                      status="invited", invited_at=None, last_login_at=None)
    return tuple(_context(c, link, timedelta(hours=24), when, "https://portal.example.com/", "Sample agency")
                 for c in (full, bare))


_SAMPLES = _sample_contexts()


class Renderer:
    """One template with the portal URL and the agency name read once, for rendering many emails in a row.

    Created inside the caller's database connection; `render` itself touches no database.
    """

    def __init__(self, name: str, source: TemplateSource | None = None) -> None:
        """Args:
            name: The template (one of `TEMPLATE_NAMES`).
            source: Its parts; by default the ones in use (`get_template`). Anything else must have passed
                `validate` first: compiling an unchecked template can take any time or memory.
        """
        source = source or get_template(name)
        self.name = name
        self.subject = _compiled("subject", source.subject)
        self.text = _compiled("text_body", source.text_body)
        self.html = _compiled("html_body", source.html_body)
        self.portal_url = portal_url()
        self.agency = settings.get("agency_name")
        self.valid_for = ttl(name)

    def render(self, contact: ContactRow, link_url: str, expires_at: datetime,
               valid_for: timedelta | None = None) -> RenderedEmail:
        """The email for `contact` carrying `link_url`, which stops working at `expires_at`.

        Raises:
            RenderError: this contact's email cannot be made (a part fails for their data, the subject is longer
                than `MAX_SUBJECT_CHARS`, or a body would not carry the link), naming the part and the reason.
        """
        ctx = _context(contact, link_url, valid_for or self.valid_for, expires_at, self.portal_url, self.agency)
        subject = _one_line(self._part("subject", self.subject, ctx))
        if len(subject) > MAX_SUBJECT_CHARS:
            raise RenderError(f"the {self.name} subject is {len(subject):,} characters long for this contact "
                              f"(at most {MAX_SUBJECT_CHARS:,}): shorten the subject or the agency_name setting")
        text = self._part("text_body", self.text, ctx)
        html = self._part("html_body", self.html, ctx)
        for part, body, url in (("text_body", text, link_url), ("html_body", html, str(markupsafe.escape(link_url)))):
            # The save check proves this for templates saved since it exists; an older stored one is caught here.
            if url not in body:
                raise RenderError(f"the {self.name} {PART_LABELS[part]} would not contain the magic link "
                                  "for this contact")
        return RenderedEmail(subject=subject, text=text if text.endswith("\n") else text + "\n", html=html)

    def _part(self, part: str, template: jinja2.Template, ctx: dict) -> str:
        try:
            return template.render(ctx)
        except jinja2.UndefinedError as exc:
            reason = exc.message or str(exc)
        except Exception as exc:  # noqa: BLE001 - whatever a template raises for this contact fails this email only
            reason = str(exc) or type(exc).__name__
        raise RenderError(f"the {self.name} {PART_LABELS[part]} cannot be rendered for this contact: "
                          f"{_one_line(reason)}")


def render(name: str, contact: ContactRow, link_url: str, expires_at: datetime) -> RenderedEmail:
    """Render template `name` for `contact` with a real magic link (the sender does this at send time)."""
    return Renderer(name).render(contact, link_url, expires_at)


def preview(name: str, contact: ContactRow, source: TemplateSource | None = None) -> RenderedEmail:
    """What template `name` will look like for `contact`, with a stand-in for the link.

    Issues no token and writes nothing: the real link is made only when the email is sent.
    `source`, when given, is an edit `validate` has accepted (see `preview_draft`).
    """
    valid_for = ttl(name)
    url = portal_url(LINK_PATH) + PREVIEW_LINK_TOKEN
    return Renderer(name, source).render(contact, url, clock.now() + valid_for, valid_for)


def preview_draft(name: str, contact: ContactRow, subject: str, text_body: str, html_body: str) -> RenderedEmail:
    """What an edit of template `name` that is not saved yet would look like for `contact`.

    The edit is checked first exactly as `save_template` checks it, so an editor shows the refusal that saving
    would give, word for word, before anything is compiled.

    Raises:
        NotFound: `name` is not a template.
        InvalidInput: the edit would be refused by `save_template` (the same message).
        RenderError: it cannot be rendered for this contact.
    """
    _check_name(name)
    parts = {"subject": subject.strip(), "text_body": _normalise_newlines(text_body),
             "html_body": _normalise_newlines(html_body)}
    validate(name, **parts)
    return preview(name, contact, TemplateSource(**parts, is_default=False))
