"""A hypothesis strategy for random expression text, shared by the parser-based tests."""

from __future__ import annotations

from hypothesis import strategies as st


def expression_texts(leaves: list[str], functions: list[str], *, max_leaves: int,
                     with_max: bool = False) -> st.SearchStrategy[str]:
    """Text of expressions built from ``leaves`` with + − × ÷, powers and ``functions``."""

    def combine(children):
        options = [
            st.tuples(children, st.sampled_from("+-*/"), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(functions), children).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(children, st.sampled_from(["2", "3", "-1", "0.5"])).map(
                lambda t: f"({t[0]})^{t[1]}"),
        ]
        if with_max:
            options.append(st.tuples(children, children).map(
                lambda t: f"max({t[0]}, {t[1]})"))
        return st.one_of(*options)

    return st.recursive(st.sampled_from(leaves), combine, max_leaves=max_leaves)
