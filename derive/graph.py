"""Computational graphs: named intermediate nodes, local derivatives, backward pass.

The slides draw an expression as a graph of operations: ``f = (x + y)z`` becomes
``q = x + y`` feeding ``f = q·z``. :func:`build_graph` builds that graph from a SymPy
expression, runs the forward pass at given input values, takes the local derivative
along every edge with ``sympy.diff`` of the node's local expression, and runs the
backward pass once from the output down, adding up where paths meet (micrograd's
``+=``). It also spells out every path from the output to each node and variable, as
the slides do for J = cos(sin(x²) + 3x²)::

    dJ/dx = dJ/dd·dd/db·db/da·da/dx + dJ/dd·dd/dc·dc/dx

What becomes a node (granularity), applied to SymPy's canonical form of the expression:

* Variables are the leaves. Constants (numbers, and parts without variables such
  as ``log(2)``) are never nodes: they stay inside local expressions.
* Every function application is a node: ``b = sin(a)``, ``σ(a)``, ``max(a, b)``.
* A sum is a node whose children are its terms; a term with a negative coefficient
  is subtracted: ``y − w·x`` is ``b = y − a`` with ``a = w·x``.
* A product is a node whose children are its factors, except that a factor raised
  to a numeric power stays a power of its base: ``3x²`` is one node (child ``x``,
  ``dc/dx = 6x``), ``x/y`` is one node (children ``x`` and ``y``).
* A power with a numeric exponent is a node whose child is its base: ``x²`` is one
  node; ``(y − w·x)²`` is ``L = b²``. Other powers (``2^x``, ``x^y``) have the base
  and the exponent as children.
* Equal sub-expressions are one node, reused along several paths: ``x²`` in
  ``sin(x²) + x²``.

SymPy's canonical form decides the shape before these rules apply: ``x + y + z`` is
one sum with three children, ``x·x`` is ``x²``.

Forward order is a post-order walk in which the children of a node are computed
longest chain first (ties in SymPy's order), so ``cos(sin(x²) + 3x²)`` gives
``a = x², b = sin a, c = 3x², d = b + c, J = cos d`` as on the slide. Intermediate
nodes are named by the caller (``node_names``) or by single letters ``a, b, c, ...``
in forward order, skipping the variables' names and the output's.

Values are exact: inputs are read as exact rationals (a float ``0.1`` is 1/10) and
SymPy computes with them symbolically (``cos(sin(1/4) + 3/4)``); each value also
carries ``approx``, the same number to 30 significant digits, for display.
"""

from __future__ import annotations

import numbers
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

import sympy

from .errors import ProblemError

DIGITS = 30        # significant digits of every ``approx``
MAX_PATHS = 1000   # paths written out for one gradient
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Variable:
    """An input of the graph, a leaf: ``x = −2``."""

    name: str
    symbol: sympy.Symbol
    value: sympy.Expr
    approx: sympy.Float


@dataclass(frozen=True)
class Node:
    """One operation of the forward pass: ``name = expression``, e.g. ``b = sin(a)``.

    Attributes:
        name: the node's name; the output node is last in :attr:`Graph.nodes`.
        symbol: the real symbol standing for the node in its parents' expressions.
        expression: the local expression, in the symbols of its children.
        children: the names of the variables and nodes it is computed from, in the
            order they are computed.
        subexpression: the same quantity in terms of the variables: ``sin(x**2)``.
        value: its exact value; ``approx`` is that value to 30 digits.
    """

    name: str
    symbol: sympy.Symbol
    expression: sympy.Expr
    children: tuple[str, ...]
    subexpression: sympy.Expr
    value: sympy.Expr
    approx: sympy.Float


@dataclass(frozen=True)
class LocalDerivative:
    """The derivative along one edge: ∂node/∂child = diff(node.expression, child).

    ``expression`` is in the symbols of the node's children (``db/da = cos(a)``);
    ``value`` is it at the forward-pass values.
    """

    node: str
    child: str
    expression: sympy.Expr
    value: sympy.Expr
    approx: sympy.Float


@dataclass(frozen=True)
class PathProduct:
    """One path from the output down to ``target``: the product of its local derivatives.

    ``factors`` run from the output down: dJ/dd · dd/db · db/da · da/dx. The path
    from the output to itself has no factors and the value 1.
    """

    target: str
    factors: tuple[LocalDerivative, ...]
    value: sympy.Expr
    approx: sympy.Float


@dataclass(frozen=True)
class Gradient:
    """∂output/∂target, from the backward pass.

    ``value`` = Σ over ``edges`` of ∂output/∂edge.node · edge.value: one term per
    parent of the target (the edges into it, parents in forward order), each parent's
    gradient being already known. Expanded, the same value is the sum of ``paths``.
    """

    target: str
    edges: tuple[LocalDerivative, ...]
    paths: tuple[PathProduct, ...]
    value: sympy.Expr
    approx: sympy.Float


@dataclass(frozen=True)
class Graph:
    """A computational graph after its forward and backward passes.

    Attributes:
        expression: the expression the graph computes.
        output: the name of the output node.
        variables: the inputs, in the order their values were given.
        nodes: the operations in forward order; the output node is last.
        derivatives: the local derivative along every edge, from the output down.
        gradients: ∂output/∂t for the output, each node (from the output down) and
            each variable.
    """

    expression: sympy.Expr
    output: str
    variables: tuple[Variable, ...]
    nodes: tuple[Node, ...]
    derivatives: tuple[LocalDerivative, ...]
    gradients: tuple[Gradient, ...]

    def node(self, name: str) -> Node:
        """The node called ``name``; KeyError if there is none."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def derivative(self, node: str, child: str) -> LocalDerivative:
        """The local derivative ∂node/∂child; KeyError if there is no such edge."""
        for derivative in self.derivatives:
            if (derivative.node, derivative.child) == (node, child):
                return derivative
        raise KeyError((node, child))

    def gradient(self, target: str) -> Gradient:
        """∂output/∂target for a node or variable; KeyError if there is none."""
        for gradient in self.gradients:
            if gradient.target == target:
                return gradient
        raise KeyError(target)


def build_graph(expr: sympy.Expr, values: Mapping[str, object], *,
                output_name: str = "f", node_names: Sequence[str] = (),
                source: str = "<expression>") -> Graph:
    """Build the computational graph of an expression and run both passes.

    Args:
        expr: the expression, e.g. from :func:`derive.expression.parse_expression`.
        values: a number for each variable of ``expr`` and nothing else, by name:
            ints, floats (read as the decimals they print as), Fractions, Decimals
            or SymPy numbers.
        output_name: the name of the output node: ``f``, ``J``, ``L``.
        node_names: names for the first intermediate nodes in forward order, e.g.
            ``("q",)``; the rest are named by letters.
        source: where the expression came from, for error messages.

    Returns:
        The graph, with every value exact and to 30 digits.

    Raises:
        ProblemError: a value is missing, extra or not a number; a name is invalid or
            taken; the expression or a local derivative is undefined at the values
            (log of a negative number, relu's kink is fine, sqrt'(0) is not); or a
            gradient has more than :data:`MAX_PATHS` paths.
    """
    # Inputs: one exact value per variable.
    variables = _read_values(expr, values, source)

    # Structure: cut the expression into nodes, name them, count the paths.
    shapes = _decompose(expr)
    names = _names(len(shapes), [v.name for v in variables], output_name,
                   node_names, source)
    name_of = {shape.expression: name for shape, name in zip(shapes, names)}
    name_of.update((v.symbol, v.name) for v in variables)  # f = x: x stays x
    children = [tuple(name_of[child] for child in shape.children) for shape in shapes]
    _count_paths(names, children, source)

    # Forward pass: each node's local expression and value, children first.
    symbol = {v.name: v.symbol for v in variables}
    symbol.update((name, sympy.Symbol(name, real=True)) for name in names)
    known = {v.symbol: v.value for v in variables}
    nodes = []
    for shape, name, inputs in zip(shapes, names, children):
        local = shape.template.xreplace(
            {slot: symbol[name_of[child]] for child, slot in shape.children.items()})
        value = known[symbol[name]] = local.xreplace(known)
        nodes.append(Node(name, symbol[name], local, inputs, shape.expression, value,
                          _approx(value, f"{name} = {local}", source)))

    # Local derivatives, one per edge, by differentiating each local expression.
    derivatives = []
    edges_into: dict[str, list[LocalDerivative]] = {name: [] for name in symbol}
    for node in reversed(nodes):
        for child in node.children:
            derivative = sympy.diff(node.expression, symbol[child])
            value = derivative.xreplace(known)
            derivatives.append(LocalDerivative(
                node.name, child, derivative, value,
                _approx(value, f"d{node.name}/d{child} = {derivative}", source,
                        f"{node.name} is not differentiable there")))
            edges_into[child].insert(0, derivatives[-1])  # parents in forward order

    # Backward pass, from the output down: each target's parents are already done.
    one = PathProduct(output_name, (), sympy.S.One, sympy.Float(1, DIGITS))
    gradients = {output_name: Gradient(output_name, (), (one,), sympy.S.One, one.approx)}
    for target in [*reversed(names[:-1]), *(v.name for v in variables)]:
        edges = tuple(edges_into[target])
        value = sympy.Add(*(gradients[edge.node].value * edge.value for edge in edges))
        paths = tuple(_extend(path, edge, source) for edge in edges
                      for path in gradients[edge.node].paths)
        gradients[target] = Gradient(target, edges, paths, value,
                                     _approx(value, f"d{output_name}/d{target}", source))

    return Graph(expr, output_name, variables, tuple(nodes), tuple(derivatives),
                 tuple(gradients.values()))


# -- cutting an expression into nodes --------------------------------------------------

@dataclass(frozen=True)
class _Shape:
    """A node before naming: its sub-expression, children and local expression.

    ``template`` is the local expression with each child replaced by the placeholder
    ``children[child]``; children are in the order they are computed.
    """

    expression: sympy.Expr
    children: dict[sympy.Expr, sympy.Dummy]
    template: sympy.Expr


def _is_leaf(expr: sympy.Expr) -> bool:
    return expr.is_Symbol or not expr.free_symbols


def _shape(expr: sympy.Expr) -> _Shape:
    """Apply the granularity rules (module docstring) to one node."""
    children: dict[sympy.Expr, sympy.Dummy] = {}

    def slot(part: sympy.Expr) -> sympy.Expr:
        if not part.free_symbols:  # a constant stays in the local expression
            return part
        return children.setdefault(part, sympy.Dummy(f"child{len(children)}", real=True))

    def term(part: sympy.Expr) -> sympy.Expr:  # a negative term is subtracted
        return -slot(-part) if part.as_coeff_Mul()[0].is_negative else slot(part)

    def factor(part: sympy.Expr) -> sympy.Expr:  # a numeric power keeps its base
        base, exponent = part.as_base_exp()
        return slot(base)**exponent if exponent.is_Number else slot(part)

    if _is_leaf(expr):  # only as the output: f = x
        template = slot(expr)
    elif expr.is_Add:
        template = sympy.Add(*map(term, expr.args))
    elif expr.is_Mul:
        template = sympy.Mul(*map(factor, expr.args))
    elif expr.is_Pow and expr.exp.is_Number:
        template = slot(expr.base)**expr.exp
    else:
        template = expr.func(*map(slot, expr.args))
    return _Shape(expr, children, template)


def _decompose(expr: sympy.Expr) -> list[_Shape]:
    """The nodes of ``expr`` in forward order, children ordered longest chain first."""
    shapes: dict[sympy.Expr, _Shape] = {}  # in forward order
    unordered: dict[sympy.Expr, _Shape] = {}
    heights: dict[sympy.Expr, int] = {}

    def shape_of(part: sympy.Expr) -> _Shape:
        if part not in unordered:
            unordered[part] = _shape(part)
        return unordered[part]

    def height(part: sympy.Expr) -> int:
        if _is_leaf(part):
            return 0
        if part not in heights:
            heights[part] = 1 + max(map(height, shape_of(part).children), default=0)
        return heights[part]

    def visit(part: sympy.Expr) -> None:
        shape = shape_of(part)
        order = sorted(shape.children, key=height, reverse=True)  # stable for ties
        for child in order:
            if not _is_leaf(child) and child not in shapes:
                visit(child)
        shapes[part] = _Shape(part, {child: shape.children[child] for child in order},
                              shape.template)

    visit(expr)
    return list(shapes.values())


# -- names and values ------------------------------------------------------------------

def _names(size: int, variables: Sequence[str], output_name: str,
           node_names: Sequence[str], source: str) -> list[str]:
    """Names for ``size`` nodes in forward order; the last is the output."""
    given = [*node_names, output_name]
    for index, name in enumerate(given):
        field = "output" if index == len(node_names) else f"node_names[{index}]"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ProblemError(source, field, f"node name {name!r} is not an "
                               "identifier (a letter, then letters, digits or '_')")
        if name in variables:
            raise ProblemError(source, field, f"node name {name!r} is the name "
                               "of a variable")
    if len(set(given)) != len(given):
        raise ProblemError(source, "node_names", f"node names repeat: {given}")
    if len(node_names) > size - 1:
        raise ProblemError(source, "node_names", f"{len(node_names)} names given for "
                           f"{size - 1} intermediate nodes")
    taken = {*variables, *given}
    letters: Iterator[str] = (letter + suffix
                              for suffix in (str(i) if i else "" for i in count())
                              for letter in string.ascii_lowercase)
    free = (name for name in letters if name not in taken)
    return [*node_names, *(next(free) for _ in range(size - 1 - len(node_names))),
            output_name]


def _read_values(expr: sympy.Expr, values: Mapping[str, object],
                 source: str) -> tuple[Variable, ...]:
    symbols = {symbol.name: symbol for symbol in expr.free_symbols}
    if len(symbols) != len(expr.free_symbols):
        raise ProblemError(source, "expression", "two different symbols share a name "
                           f"in {expr}")
    for name in sorted(symbols):
        if name not in values:
            raise ProblemError(source, "values", f"no value for the variable '{name}'")
    variables = []
    for name, given in values.items():
        if name not in symbols:
            raise ProblemError(source, "values", f"a value is given for '{name}', which "
                               f"is not a variable of {expr}")
        value = _exact(given, source, f"values.{name}")
        variables.append(Variable(name, symbols[name], value,
                                  _approx(value, f"{name} = {given!r}", source)))
    return tuple(variables)


def _exact(value: object, source: str, field: str) -> sympy.Expr:
    """A number as an exact SymPy number: floats are read as the decimals they print."""
    if isinstance(value, bool):
        raise ProblemError(source, field, "expected a number, got a boolean")
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, numbers.Rational):
        return sympy.Rational(int(value.numerator), int(value.denominator))
    if isinstance(value, sympy.Float):
        value = Decimal(str(value))
    elif isinstance(value, numbers.Real):
        value = Decimal(repr(float(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ProblemError(source, field, f"expected a finite number, got {value}")
        return sympy.Rational(*value.as_integer_ratio())
    if isinstance(value, sympy.Expr) and value.is_number:
        return value
    raise ProblemError(source, field, f"expected a number, got {value!r}")


def _approx(value: sympy.Expr, what: str, source: str,
            reason: str = "the expression is undefined there") -> sympy.Float:
    """``value`` to 30 digits; ProblemError if it is not a finite real number."""
    number = sympy.N(value, DIGITS)
    if number.is_Number and number.is_finite and number.is_extended_real:
        return sympy.Float(number, DIGITS)
    raise ProblemError(source, "values", f"{what} is {number} at the given values, not "
                       f"a finite real number: {reason}")


# -- paths -----------------------------------------------------------------------------

def _count_paths(names: Sequence[str], children: Sequence[tuple[str, ...]],
                 source: str) -> None:
    """Refuse graphs with too many paths to write out (each shared node doubles them).

    ``names`` and ``children`` describe the nodes in forward order, output last.
    """
    paths = {names[-1]: 1}  # the output
    for name, inputs in zip(reversed(names), reversed(children)):
        for child in inputs:  # every parent of ``name`` came before it here
            paths[child] = paths.get(child, 0) + paths[name]
            if paths[child] > MAX_PATHS:
                raise ProblemError(source, "expression", f"{child} is reached along "
                                   f"more than {MAX_PATHS} paths; at most {MAX_PATHS} "
                                   "are written out")


def _extend(path: PathProduct, edge: LocalDerivative, source: str) -> PathProduct:
    """The path continued one edge further down, to ``edge.child``."""
    value = path.value * edge.value
    return PathProduct(edge.child, path.factors + (edge,), value,
                       _approx(value, f"a path to {edge.child}", source))
