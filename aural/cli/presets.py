"""``aural presets [NAME]``: list the shipped presets, or show one preset's nodes and parameters."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("presets", help="list presets, or show one preset's nodes and parameters",
                       description="Without NAME: the shipped presets with one line each.  "
                                   "With NAME (a shipped name or a .json file): its nodes, their "
                                   "parameters with units, and how to change them with --set.")
    p.add_argument("name", nargs="?", help="preset name or .json path to show")
    p.set_defaults(func=run)


def _fmt_value(v, unit: str) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        v = f"{v:g}"
    return f"{v} {unit}".rstrip()


def _show(node, indent: str, path: str) -> None:
    from aural.engine.graph import Chain, Mix

    kind = type(node).__name__
    flags = []
    if node.bypass:
        flags.append("bypassed")
    if node.mix != 1.0:
        flags.append(f"mix {node.mix:g}")
    flag = f"  [{', '.join(flags)}]" if flags else ""
    if isinstance(node, (Chain, Mix)):
        print(f"{indent}{path or node.name} ({kind}){flag}")
        if isinstance(node, Mix):
            for i, c in enumerate(node.children):
                print(f"{indent}  branch {i}, gain {node.get(f'gain{i}_db'):g} dB:")
                _show(c, indent + "    ", f"{path}.{c.name}" if path else c.name)
        else:
            for c in node.children:
                _show(c, indent + "  ", f"{path}.{c.name}" if path else c.name)
        return
    print(f"{indent}{path} ({kind}){flag}")
    for spec in node.param_specs():
        val = _fmt_value(node.get(spec.name), spec.unit)
        print(f"{indent}    {spec.name:<14} {val:<16} {spec.doc}")


def run(args) -> int:
    from aural.engine.presets import list_presets, load_preset, preset_description

    if not args.name:
        names = list_presets()
        width = max((len(n) for n in names), default=0)
        for n in names:
            print(f"{n:<{width}}  {preset_description(n)}")
        print("\nShow one with 'aural presets NAME'; use with 'aural enhance IN --preset NAME'.")
        return 0
    chain = load_preset(args.name)
    desc = preset_description(args.name)
    print(f"{args.name}: {desc}" if desc else args.name)
    for c in chain.children:
        _show(c, "  ", c.name)
    example = next(((p, s.name) for p, n in chain.nodes() for s in n.param_specs()
                    if s.kind == "float"), None)
    if example:
        path, pname = example
        print(f"\nChange a value with --set NODE.PARAM=VALUE, e.g. --set {path}.{pname}="
              f"{_fmt_value(chain.get(f'{path}.{pname}'), '')}")
    return 0
