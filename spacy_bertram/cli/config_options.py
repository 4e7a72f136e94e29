"""Command-line options derived from a settings dataclass, so that each setting's
default and help text are written once, in its dataclass field.

Every field of the dataclass becomes an option named after it; a field that holds a
dataclass (a section) contributes its own fields, prefixed with the section's name
(`context.epochs` is `--context-epochs`) unless the section is flat (its names are
used as they are). Help texts come from the fields' metadata (`setting(...)`).
"""
import dataclasses
import inspect
import typing
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

import typer

Config = TypeVar("Config")
Command = TypeVar("Command", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class ConfigOption:
    """One setting as a command-line option: its parameter name, its place in the
    (nested) dataclass, type, default and help."""

    name: str
    path: Tuple[str, ...]
    hint: Any
    default: Any
    help: str


class ConfigOptions(Generic[Config]):
    """The options of a settings dataclass whose defaults are `defaults`.

    As a decorator, it gives a command that takes `**settings` one keyword option per
    setting; `build(settings)` turns the values back into a validated config.
    """

    def __init__(self, defaults: Config, flat: Sequence[str] = ()) -> None:
        self.defaults = defaults
        self.options = _options(defaults, tuple(flat))
        names = [option.name for option in self.options]
        clashes = sorted({name for name in names if names.count(name) > 1})
        if clashes:
            raise ValueError(f"Settings {clashes} would be two options each; prefix their section.")

    def __call__(self, command: Command) -> Command:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        taken = sorted({p.name for p in own} & {o.name for o in self.options})
        if taken:
            raise ValueError(f"{command.__name__} has its own options {taken}, which are also settings.")
        command.__signature__ = signature.replace(parameters=own + [_parameter(o) for o in self.options])
        return command

    def build(self, values: Mapping[str, Any]) -> Config:
        """The defaults with `values` (by option name) put in; sections are rebuilt, so
        every dataclass checks its settings."""
        by_name = {option.name: option for option in self.options}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise TypeError(f"Unknown settings {unknown}.")
        return _replace(self.defaults, {by_name[name].path: value for name, value in values.items()})


def _options(defaults: Any, flat: Tuple[str, ...]) -> List[ConfigOption]:
    hints = typing.get_type_hints(type(defaults))
    options = []
    for field in dataclasses.fields(defaults):
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            for inner in _options(value, ()):
                if field.name in flat:
                    options.append(dataclasses.replace(inner, path=(field.name, *inner.path)))
                else:
                    options.append(ConfigOption(
                        f"{field.name}_{inner.name}", (field.name, *inner.path), inner.hint, inner.default,
                        f"{field.name}: {inner.help}",
                    ))
            continue
        if "help" not in field.metadata:
            raise TypeError(
                f"{type(defaults).__name__}.{field.name} has no help text; declare it with "
                f"`setting(default, help=...)`."
            )
        options.append(ConfigOption(field.name, (field.name,), hints[field.name], value, field.metadata["help"]))
    return options


def _replace(config: Any, changes: Dict[Tuple[str, ...], Any]) -> Any:
    updates = {}
    for field in dataclasses.fields(config):
        inner = {path[1:]: value for path, value in changes.items() if path[0] == field.name and len(path) > 1}
        if inner:
            updates[field.name] = _replace(getattr(config, field.name), inner)
        elif (field.name,) in changes:
            updates[field.name] = changes[(field.name,)]
    return dataclasses.replace(config, **updates)


def _parameter(option: ConfigOption) -> inspect.Parameter:
    annotation, parser, metavar = _cli_type(option.hint)
    default = list(option.default) if isinstance(option.default, tuple) else option.default
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(default, help=option.help, parser=parser, metavar=metavar),
        annotation=annotation,
    )


def _cli_type(hint: Any) -> Tuple[Any, Optional[Callable[[Any], Any]], Optional[str]]:
    """The annotation typer gets for a field's type, with a parser and metavar where
    typer has none."""
    if hint in (bool, int, float, str):
        return hint, None, None
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args[1:] == (Ellipsis,) and args[0] in (int, float, str):
        return List[args[0]], None, None
    if typing.get_origin(hint) is Union and set(args) == {int, float}:
        return str, _number, "<number>"
    if typing.get_origin(hint) is Union and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        _, parse, metavar = _cli_type(inner)
        name = metavar.strip("<>") if metavar else inner.__name__
        return str, _none_or(parse or inner), f"<{name}|none>"
    raise TypeError(f"A setting of type {hint} cannot be a command-line option.")


def _number(text: Union[str, int, float]) -> Union[int, float]:
    """An int when the text is one (a count), else a float (a fraction)."""
    if not isinstance(text, str):  # a default
        return text
    try:
        return int(text)
    except ValueError:
        return float(text)


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: Any) -> Any:
        if not isinstance(text, str):  # a default
            return text
        return None if text.strip().lower() in ("none", "null") else parse(text)

    return parse_optional
