"""The API reference of the library, generated from the components themselves: ``python -m mlops_platform_offline.api_reference``.

For every ComponentResource in ``mlops_platform``: its type token, its docstring's summary, a table of its inputs
(the fields of its ``...Args`` TypedDict: name, type, required, default, description) in the style of
terraform-docs, the nested argument types it uses, and a table of its outputs (the ``pulumi.Output`` class
annotations). Descriptions are the field docstrings; a default is the ``default ...`` phrase of a field's
docstring, which is where every component documents it. ``--check`` exits 1 when the written reference differs from
what the code gives (the test suite runs it), so the reference cannot drift from the code.
"""

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pulumi

import mlops_platform
from mlops_platform.provider import attribute_docstrings

DEFAULT_OUTPUT = Path("docs") / "api-reference.md"
_DEFAULT = re.compile(r"\(?\b[Dd]efault(?:s to|:)?\s+([^;).]+(?:\.\d+[^;).]*)?)")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    default: str
    description: str


@dataclass(frozen=True)
class Component:
    token: str
    class_name: str
    module: str
    summary: str
    args_name: str
    inputs: list[Field]
    nested: dict[str, list[Field]]
    outputs: list[Field]


def components() -> list[Component]:
    """Every ComponentResource the library defines, ordered by type token."""
    found = []
    for info in pkgutil.walk_packages(mlops_platform.__path__, "mlops_platform."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, pulumi.ComponentResource):
                found.append(_describe(cls))
    return sorted(found, key=lambda c: c.token)


def _describe(cls: type) -> Component:
    args_type = inspect.signature(cls.__init__).parameters.get("args")
    args_type = args_type.annotation if args_type is not None else None
    if typing.get_origin(args_type) in (typing.Union, types.UnionType):  # `args: XArgs | None = None`
        args_type = next((a for a in typing.get_args(args_type) if a is not type(None)), None)
    if args_type is None or not typing.is_typeddict(args_type):
        raise TypeError(f"{cls.__module__}.{cls.__name__}: __init__ has no `args` TypedDict annotation")
    nested: dict[str, list[Field]] = {}
    inputs = _typed_dict_fields(args_type, nested)
    docs = _attribute_docstrings(cls)
    outputs = [
        Field(name, _type_name(hint), True, "", docs.get(name, ""))
        for name, hint in _hints(cls).items()
        if typing.get_origin(hint) is pulumi.Output
    ]
    return Component(
        token=_type_token(cls),
        class_name=cls.__name__,
        module=cls.__module__,
        summary=(inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " "),
        args_name=args_type.__name__,
        inputs=inputs,
        nested=nested,
        outputs=outputs,
    )


def _typed_dict_fields(td: type, nested: dict[str, list[Field]]) -> list[Field]:
    docs = _attribute_docstrings(td)
    fields = []
    for name, hint in _hints(td).items():
        description = docs.get(name, "")
        fields.append(Field(name, _type_name(hint), name in td.__required_keys__, _default(description), description))
        for inner in _typed_dicts_in(hint):
            if inner.__name__ not in nested:
                nested[inner.__name__] = []  # claimed before recursing: a self-referencing type ends here
                nested[inner.__name__] = _typed_dict_fields(inner, nested)
    return fields


def _hints(cls: type) -> dict[str, object]:
    # pulumi.Input[T] holds the forward reference "Output[T]", which resolves in pulumi's namespace, not the module's
    return typing.get_type_hints(cls, localns={"Output": pulumi.Output, "Input": pulumi.Input, "T": typing.Any})


def _typed_dicts_in(hint: object) -> list[type]:
    if typing.is_typeddict(hint):
        return [hint]
    return [td for arg in typing.get_args(hint) for td in _typed_dicts_in(arg)]


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstrings under ``cls``'s annotated attributes (read as the component provider reads them), each on one
    line for a table cell."""
    return {name: " ".join(doc.split()) for name, doc in attribute_docstrings(cls).items()}


def _type_token(cls: type) -> str:
    """The ``mlops:<area>:<Name>`` literal the class passes to ``super().__init__``."""
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"mlops:\w+:\w+", node.value):
            return node.value
    raise TypeError(f"{cls.__name__}: no mlops:<area>:<Name> type token in its source")


def _default(description: str) -> str:
    match = _DEFAULT.search(description)
    return match.group(1).strip() if match else ""


def _type_name(hint: object) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "None"
    if origin is typing.Union or origin is types.UnionType:
        names = [_type_name(a) for a in args]
        # pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]: shown as Input[T]
        if len(args) == 3 and any(typing.get_origin(a) is pulumi.Output for a in args):
            return f"Input[{names[0]}]"
        return " | ".join(names)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def render(found: list[Component]) -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the components' argument types and docstrings by",
        "`python -m mlops_platform_offline.api_reference`; the test suite fails when it is out of date.",
        "",
        "| Component | Type token | Module |",
        "|---|---|---|",
    ]
    lines += [f"| [{c.class_name}](#{_anchor(c.token)}) | `{c.token}` | `{c.module}` |" for c in found]
    for c in found:
        lines += ["", f"## {c.token}", "", f"`{c.module}.{c.class_name}({{name}}, {c.args_name}, opts)`", ""]
        if c.summary:
            lines += [c.summary, ""]
        lines += _table(f"Inputs ({c.args_name})", c.inputs, with_required=True)
        for nested_name, fields in sorted(c.nested.items()):
            lines += _table(f"{nested_name}", fields, with_required=True, level="####")
        lines += _table("Outputs", c.outputs, with_required=False)
    return "\n".join(lines).rstrip() + "\n"


def _table(title: str, fields: list[Field], *, with_required: bool, level: str = "###") -> list[str]:
    if not fields:
        return [f"{level} {title}", "", "None.", ""]
    if with_required:
        rows = ["| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
        rows += [f"| `{f.name}` | {_cell(f.description)} | `{_cell(f.type)}` | {_default_cell(f)} | "
                 f"{'yes' if f.required else 'no'} |" for f in fields]
    else:
        rows = ["| Name | Description | Type |", "|---|---|---|"]
        rows += [f"| `{f.name}` | {_cell(f.description)} | `{_cell(f.type)}` |" for f in fields]
    return [f"{level} {title}", "", *rows, ""]


def _default_cell(field: Field) -> str:
    if field.default:
        return _cell(field.default)
    return "n/a" if field.required else "not set"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(token: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", token.lower().replace(" ", "-"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-api-reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"file to write (default {DEFAULT_OUTPUT})")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file is out of date")
    options = parser.parse_args(argv)
    text = render(components())
    if options.check:
        current = options.output.read_text() if options.output.is_file() else ""
        if current != text:
            print(f"{options.output} is out of date: run python -m mlops_platform_offline.api_reference", file=sys.stderr)
            return 1
        return 0
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text)
    print(f"wrote {options.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
