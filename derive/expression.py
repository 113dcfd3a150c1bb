"""Parse scalar expressions written by users into SymPy, without evaluating them.

Problem files contain formulas such as ``(x + y) * z``, ``cos(sin(x^2) + 3*x^2)`` or
``sigmoid(w*x + b)``. Python's own parser reads them (``ast.parse(..., mode="eval")``)
and a whitelist walk of the tree builds the SymPy expression node by node; nothing
is ever executed, and ``eval``, ``exec`` and ``sympify`` are never called on the text.

Allowed: integer and decimal literals (read as exact rationals: ``0.1`` is 1/10),
the declared variables, unary ``+``/``-``, binary ``+ - * /``, powers written ``^``
or ``**`` (right-associative, binding tighter than ``*`` as in mathematics),
parentheses, and calls of the functions in :data:`FUNCTIONS`. Everything else is
refused with a :class:`~derive.errors.ProblemError` that names the offending token
and its column. So are inputs that would make SymPy compute for a long time: text
longer than :data:`MAX_LENGTH`, nesting deeper than :data:`MAX_DEPTH`, numbers with
more than :data:`MAX_DIGITS` digits and numeric exponents larger than
:data:`MAX_EXPONENT` in magnitude.

Variables become real SymPy symbols (``Symbol(name, real=True)``), so ``abs`` and
``max`` differentiate to ``sign`` and ``Heaviside`` rather than complex forms.
"""

from __future__ import annotations

import ast
import keyword
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import sympy

from .catalog import sigmoid
from .errors import ProblemError

MAX_LENGTH = 1000   # characters of expression text
MAX_DEPTH = 50      # nested brackets, and operations nested in one another
MAX_DIGITS = 30     # digits of a number literal
MAX_EXPONENT = 100  # magnitude of a numeric exponent
_MAX_POWER_BITS = 4000  # size of the result of a power of two numbers


class relu(sympy.Function):
    """The rectified linear unit relu(x) = max(0, x).

    Its derivative is taken to be ``Heaviside(x, 0)``: 1 for x > 0 and 0 for x ≤ 0
    (relu has no derivative at 0; 0 is the usual convention, as in PyTorch).
    Numbers are evaluated (relu(−2) = 0); ``rewrite(sympy.Max)`` gives max(0, x).
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sympy.Max(0, x)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return sympy.Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sympy.Max(0, x)

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.Max)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real


@dataclass(frozen=True)
class _Function:
    """A function users may call: how to build it and how many arguments it takes."""

    build: Callable[..., sympy.Expr]
    min_args: int
    max_args: int | None  # None: any number


FUNCTIONS: dict[str, _Function] = {
    "exp": _Function(sympy.exp, 1, 1),
    "log": _Function(sympy.log, 1, 2),  # natural logarithm; log(x, b) to base b
    "sin": _Function(sympy.sin, 1, 1),
    "cos": _Function(sympy.cos, 1, 1),
    "tan": _Function(sympy.tan, 1, 1),
    "tanh": _Function(sympy.tanh, 1, 1),
    "sigmoid": _Function(sigmoid, 1, 1),
    "relu": _Function(relu, 1, 1),
    "sqrt": _Function(sympy.sqrt, 1, 1),
    "abs": _Function(sympy.Abs, 1, 1),
    "max": _Function(sympy.Max, 2, None),
}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
              ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
              ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}
_REFUSED = {  # syntax that is never allowed, by the name of its node type
    "Subscript": "indexing", "Slice": "a slice",
    "Lambda": "a lambda", "IfExp": "a conditional expression",
    "ListComp": "a comprehension", "SetComp": "a comprehension",
    "DictComp": "a comprehension", "GeneratorExp": "a generator expression",
    "Compare": "a comparison", "BoolOp": "a boolean operator",
    "NamedExpr": "an assignment", "Starred": "unpacking", "Tuple": "a tuple",
    "List": "a list", "Set": "a set", "Dict": "a dictionary",
    "JoinedStr": "an f-string", "FormattedValue": "an f-string",
    "Await": "await", "Yield": "yield", "YieldFrom": "yield",
}


def parse_expression(text: str, *, variables: Iterable[str],
                     source: str = "<expression>", field: str = "expression",
                     as_written: bool = False) -> sympy.Expr:
    """Parse a scalar expression into SymPy without evaluating any of it as code.

    Args:
        text: the expression, e.g. ``"cos(sin(x^2) + 3*x^2)"``.
        variables: the names that may appear, e.g. ``("x",)``; each must be an ASCII
            identifier that is neither a Python keyword nor a function name.
        source: the file the expression comes from, for error messages.
        field: the field of that file holding the expression, for error messages.
        as_written: keep the sums, products, quotients and powers as written (operands
            in the user's order, nothing combined), for display: ``(x + y) * z`` prints
            as (x + y)·z, where SymPy's own order is z·(x + y).

    Returns:
        The SymPy expression, with each variable a real symbol and each number an
        exact rational.

    Raises:
        ProblemError: the text is not an allowed expression, or a variable name is
            invalid. The message names the offending token and its column.
        TypeError: ``variables`` is a single string rather than a collection.
    """
    names = _check_variables(variables, source, field)
    return _Reader(text, names, source, field, as_written=as_written).read()


def _check_variables(variables: Iterable[str], source: str, field: str) -> frozenset[str]:
    if isinstance(variables, str):
        raise TypeError("variables must be a collection of names, not one string")
    names = frozenset(variables)
    for name in sorted(names, key=str):
        if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
            raise ProblemError(source, field, f"variable name {name!r} is not an ASCII "
                               "identifier (a letter, then letters, digits or '_')")
        if name in FUNCTIONS:
            raise ProblemError(source, field, f"variable name {name!r} is the name of "
                               "a function")
    return names


class _Reader:
    """One walk over one expression's syntax tree; ``_read_<NodeType>`` per node type."""

    def __init__(self, text: str, variables: frozenset[str], source: str, field: str, *,
                 as_written: bool = False):
        self.text = text
        self.variables = variables
        self.source = source
        self.field = field
        self.as_written = as_written
        self.line = ""    # the text on one line: tabs and newlines made spaces
        self.parsed = ""  # the same with '^' written '**', as given to ast.parse
        self.carets: list[int] = []  # where '^' was, as offsets into ``parsed``

    # -- errors ---------------------------------------------------------------------

    def fail(self, message: str) -> NoReturn:
        raise ProblemError(self.source, self.field, message)

    def column(self, offset: int) -> int:
        """The 1-based column in the user's text of an offset into the parsed text."""
        return offset - sum(1 for caret in self.carets if caret + 1 <= offset) + 1

    def at(self, node: ast.AST) -> str:
        return f"at column {self.column(node.col_offset)}"

    def token(self, node: ast.AST) -> str:
        """The source of a node as the user wrote it, shortened, quoted."""
        start, stop = self.column(node.col_offset), self.column(node.end_col_offset)
        segment = self.line[start - 1:stop - 1]
        return repr(segment if len(segment) <= 30 else segment[:27] + "...")

    def expected(self) -> str:
        variables = ", ".join(sorted(self.variables))
        functions = ", ".join(FUNCTIONS)
        if variables:
            return f"expected one of the variables {variables} or a function {functions}"
        return f"expected a function {functions}"

    # -- the pipeline ---------------------------------------------------------------

    def read(self) -> sympy.Expr:
        # Refuse what is too big or strange to hand to Python's parser at all.
        text = self.text
        if not isinstance(text, str):
            self.fail(f"expected the expression as text, got {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            self.fail(f"the expression is {len(text)} characters long; "
                      f"at most {MAX_LENGTH} are allowed")
        for index, char in enumerate(text):
            if not (" " <= char <= "~" or char in "\t\n\r"):
                self.fail(f"character {char!r} at column {index + 1} is not allowed; "
                          "expressions are written in ASCII")
        text = self.line = re.sub(r"[\t\n\r]", " ", text)  # columns are offsets
        if not text.strip():
            self.fail("the expression is empty")
        self.check_brackets(text)
        # '^' means power; Python's '^' is xor, with the wrong precedence.
        self.carets = [match.start() + index for index, match in
                       enumerate(re.finditer(r"\^", text))]
        self.parsed = text.replace("^", "**")
        # Parse, check the depth of the tree, then build the SymPy expression.
        try:
            with warnings.catch_warnings():  # "invalid decimal literal" and the like
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(self.parsed, mode="eval")
        except SyntaxError as error:
            where = f" at column {self.column(error.offset - 1)}" if error.offset else ""
            self.fail(f"not a valid expression{where}: {error.msg}")
        except (RecursionError, MemoryError):
            self.fail("the expression is too deeply nested to read")
        self.check_depth(tree.body)
        expression = self.visit(tree.body)
        if expression.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            self.fail(f"the expression is undefined: it simplifies to {expression} "
                      "(a division by zero or log(0)?)")
        return expression

    def check_brackets(self, text: str) -> None:
        depth = 0
        for index, char in enumerate(text):
            depth += (char in "([{") - (char in ")]}")
            if depth > MAX_DEPTH:
                self.fail(f"brackets are nested more than {MAX_DEPTH} deep "
                          f"at column {index + 1}")

    def check_depth(self, root: ast.expr) -> None:
        stack = [(root, 1)]  # iterative: a deep tree must not exhaust the stack
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.fail(f"operations are nested more than {MAX_DEPTH} deep "
                          f"{self.at(node)}")
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                         if isinstance(child, ast.expr))

    def visit(self, node: ast.AST) -> sympy.Expr:
        reader = getattr(self, f"_read_{type(node).__name__}", None)
        if reader is None:
            what = _REFUSED.get(type(node).__name__, f"{type(node).__name__} syntax")
            self.fail(f"{what} {self.token(node)} is not allowed {self.at(node)}")
        return reader(node)

    # -- one method per node type --------------------------------------------------

    def _read_Attribute(self, node: ast.Attribute) -> NoReturn:
        column = self.column(node.end_col_offset - len(node.attr))  # the name after '.'
        self.fail(f"attribute access '.{node.attr}' is not allowed at column {column}")

    def _read_Constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = "a string" if isinstance(value, (str, bytes)) else "the constant"
            if isinstance(value, complex):
                what = "an imaginary number"
            self.fail(f"{what} {self.token(node)} is not allowed {self.at(node)}")
        literal = ast.get_source_segment(self.parsed, node).replace("_", "")
        try:
            number = Decimal(literal) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:  # 0x1f, 0o17, 0b101: integers in other bases
            number = Decimal(value)
        _, digits, exponent = number.as_tuple()
        if max(len(digits) + max(exponent, 0), -exponent) > MAX_DIGITS:
            self.fail(f"the number {self.token(node)} {self.at(node)} has more than "
                      f"{MAX_DIGITS} digits")
        return sympy.Rational(*number.as_integer_ratio())

    def _read_Name(self, node: ast.Name) -> sympy.Expr:
        if node.id in self.variables:
            return sympy.Symbol(node.id, real=True)
        if node.id in FUNCTIONS:
            self.fail(f"'{node.id}' {self.at(node)} is a function; "
                      f"call it as {node.id}(...)")
        self.fail(f"unknown name '{node.id}' {self.at(node)}; {self.expected()}")

    def _read_UnaryOp(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.USub):
            operand = self.visit(node.operand)
            if self.as_written and not operand.is_Number:
                return sympy.Mul(-1, operand, evaluate=False)
            return -operand
        if isinstance(node.op, ast.UAdd):
            return self.visit(node.operand)
        symbol = {ast.Not: "not", ast.Invert: "~"}[type(node.op)]
        self.fail(f"operator '{symbol}' {self.at(node)} is not allowed")

    def _read_BinOp(self, node: ast.BinOp) -> sympy.Expr:
        symbol = _OPERATORS.get(type(node.op), "?")
        column = self.operator_column(node, symbol)
        if symbol not in ("+", "-", "*", "/", "**"):
            self.fail(f"operator '{symbol}' at column {column} is not allowed; "
                      "use + - * / and ^ (or **)")
        left, right = self.visit(node.left), self.visit(node.right)
        if self.as_written and symbol != "**":
            return _written(symbol, left, right)
        if symbol == "+":
            return left + right
        if symbol == "-":
            return left - right
        if symbol == "*":
            return left * right
        if symbol == "/":
            return left / right
        return self.power(left, right, column)

    def operator_column(self, node: ast.BinOp, symbol: str) -> int:
        """The column of a binary operator: the first one between the operands."""
        start, stop = node.left.end_col_offset, node.right.col_offset
        found = self.parsed.find(symbol, start, stop)
        return self.column(found if found >= 0 else node.col_offset)

    def power(self, base: sympy.Expr, exponent: sympy.Expr, column: int) -> sympy.Expr:
        # Check sizes before SymPy computes: Integer(9)**Integer(9**9) is evaluated.
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            self.fail(f"the exponent {exponent} of the power at column {column} is too "
                      f"large; numeric exponents are limited to ±{MAX_EXPONENT}")
        if base.is_Rational and exponent.is_Number:
            bits = (abs(base.p).bit_length() + base.q.bit_length()) * abs(exponent)
            if bits > _MAX_POWER_BITS:
                self.fail(f"the power at column {column} would be a number with about "
                          f"{int(bits * 0.30103)} digits; that is too large")
        result = sympy.Pow(base, exponent, evaluate=not self.as_written)
        for power in result.atoms(sympy.Pow):  # (x^100)^100 becomes x^10000
            if power.exp.is_Number and abs(power.exp) > MAX_EXPONENT:
                self.fail(f"the power at column {column} has exponent {power.exp}; "
                          f"numeric exponents are limited to ±{MAX_EXPONENT}")
        return result

    def _read_Call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            self.fail(f"only the functions {', '.join(FUNCTIONS)} can be called; "
                      f"{self.token(node.func)} {self.at(node.func)} is not one")
        name = node.func.id
        if name not in FUNCTIONS:
            kind = "a variable" if name in self.variables else "not an allowed function"
            self.fail(f"'{name}' {self.at(node)} is {kind}; "
                      f"the functions are {', '.join(FUNCTIONS)}")
        for argument in node.keywords:
            label = f"'{argument.arg}='" if argument.arg else "'**'"
            self.fail(f"keyword argument {label} {self.at(argument)} is not allowed")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                self.visit(argument)  # refused, with its column
        function = FUNCTIONS[name]
        count = len(node.args)
        if count < function.min_args or (function.max_args is not None
                                         and count > function.max_args):
            self.fail(f"{name} {self.at(node)} takes {_arity(function)}, got {count}")
        arguments = [self.visit(argument) for argument in node.args]
        try:
            if self.as_written:
                return function.build(*arguments, evaluate=False)
            return function.build(*arguments)
        except ValueError as error:  # max of a complex number: "not comparable"
            self.fail(f"{name} {self.at(node)} cannot be applied here: {error}")


def _written(symbol: str, left: sympy.Expr, right: sympy.Expr) -> sympy.Expr:
    """``left symbol right`` as an unevaluated SymPy node, operands in the order given.

    Python reads ``a + b + c`` as ``(a + b) + c``: a sum (product) on the left is
    continued rather than nested, so that it prints without brackets.
    """
    if symbol in ("+", "-"):
        if symbol == "-":
            right = sympy.Mul(-1, right, evaluate=False)
        terms = left.args if left.is_Add else (left,)
        return sympy.Add(*terms, right, evaluate=False)
    if symbol == "/":
        right = sympy.Pow(right, -1, evaluate=False)
    factors = left.args if left.is_Mul else (left,)
    return sympy.Mul(*factors, right, evaluate=False)


def _arity(function: _Function) -> str:
    low, high = function.min_args, function.max_args
    plural = "s" if (high or low) != 1 else ""
    if high is None:
        return f"at least {low} argument{plural}"
    if low == high:
        return f"{low} argument{plural}"
    return f"{low} to {high} arguments"
