"""The little language of ``ganvas arithmetic``, parsed by hand (recursive descent).

Grammar, loosest binding first::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*     one side of "*" is a number, "/" divides by one
    unary      := "-" unary | primary
    primary    := NUMBER                          a seed, or a factor next to "*" and "/"
                | "mean" "(" seeds ")"            seeds: 12, 40, 70-75
                | "file" "(" PATH ")" | "@" PATH  saved latents (their mean when several)
                | "class" "(" NAME ")"            a class's direction (a conditional run)
                | "(" expression ")"

A number is a scalar only as an operand of ``*`` (the left one when both are numbers: ``3*5`` is
three times seed 5) or the divisor of ``/``; anywhere else it is a seed. An ``@path`` runs to the
next space or bracket; write ``file(...)`` for paths with spaces or ``+``. Errors name the
1-based column and carry a caret line that the command prints above the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn

from ganvas.errors import GanvasError

NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
SEED_RANGE = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")
AT_PATH = re.compile(r"[^\s()]+")


class ExpressionError(GanvasError):
    """A syntax error at a column of the expression; ``pointer`` shows where."""

    def __init__(self, expression: str, column: int, what: str):
        super().__init__(f"arithmetic: {what} at column {column}")
        self.expression = expression
        self.column = column

    @property
    def pointer(self) -> str:
        """Two lines: the expression and a caret under the offending column."""
        return f"  {self.expression}\n  {' ' * (self.column - 1)}^"


@dataclass
class Node:
    """Any part of an expression; ``column`` is where it starts (1-based)."""

    column: int


@dataclass
class Number(Node):
    value: float
    text: str


@dataclass
class Seed(Node):
    seed: int


@dataclass
class Mean(Node):
    seeds: list[int]


@dataclass
class LatentFile(Node):
    path: str


@dataclass
class ClassTerm(Node):
    name: str


@dataclass
class Scaled(Node):
    factor: float
    operand: Node


@dataclass
class Sum(Node):
    """``terms`` are (sign, node) pairs, sign +1 or -1."""

    terms: list[tuple[int, Node]] = field(default_factory=list)


def parse(expression: str) -> Node:
    """The tree of ``expression``: seeds, means, files, scaled nodes and sums."""
    parser = _Parser(expression)
    node = parser.expression()
    parser.skip_space()
    if parser.pos < len(expression):
        parser.fail(f"unexpected {expression[parser.pos]!r}")
    return _as_latent(node, parser)


class _Parser:
    """A cursor over the text; one method per grammar rule."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str, pos: int | None = None) -> NoReturn:
        raise ExpressionError(self.text, (self.pos if pos is None else pos) + 1, what)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            self.fail(f"expected {char!r}, found {found}")
        self.pos += 1

    def expression(self) -> Node:
        start = self.pos
        first = self.term()
        if self.peek() not in ("+", "-"):
            return first
        total = Sum(start + 1, [(1, _as_latent(first, self))])
        while self.peek() in ("+", "-"):
            sign = 1 if self.text[self.pos] == "+" else -1
            self.pos += 1
            total.terms.append((sign, _as_latent(self.term(), self)))
        return total

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            operator, at = self.text[self.pos], self.pos
            self.pos += 1
            right = self.unary()
            node = _multiply(node, right, self, at) if operator == "*" \
                else _divide(node, right, self, at)
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            start = self.pos
            self.pos += 1
            operand = self.unary()
            if isinstance(operand, Number):
                return Number(start + 1, -operand.value, "-" + operand.text)
            return Scaled(start + 1, -1.0, operand)
        return self.primary()

    def primary(self) -> Node:
        char, start = self.peek(), self.pos
        if char == "(":
            self.pos += 1
            node = self.expression()
            self.expect(")")
            return node
        if char == "@":
            self.pos += 1
            match = AT_PATH.match(self.text, self.pos)
            if not match:
                self.fail("expected a latent file after '@'")
            self.pos = match.end()
            return LatentFile(start + 1, match.group())
        if self.text.startswith("mean", self.pos):
            self.pos += 4
            return Mean(start + 1, self.seed_list())
        if self.text.startswith("file", self.pos):
            self.pos += 4
            return LatentFile(start + 1, self.file_path())
        if self.text.startswith("class", self.pos):
            self.pos += 5
            return ClassTerm(start + 1, self.file_path())
        match = NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return Number(start + 1, float(match.group()), match.group())
        found = repr(char) if char else "the end"
        self.fail(f"expected a seed, mean(...), file(...), @file, class(...) or '(', found "
                  f"{found}")

    def seed_list(self) -> list[int]:
        self.expect("(")
        seeds: list[int] = []
        while True:
            self.skip_space()
            match = SEED_RANGE.match(self.text, self.pos)
            if not match:
                self.fail("expected a seed")
            lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
            if hi < lo:
                self.fail(f"seed range {match.group()!r} runs backwards")
            seeds.extend(range(lo, hi + 1))
            self.pos = match.end()
            if self.peek() != ",":
                break
            self.pos += 1
        self.expect(")")
        return seeds

    def file_path(self) -> str:
        self.expect("(")
        self.skip_space()
        quote = self.text[self.pos] if self.pos < len(self.text) else ""
        if quote in ("'", '"'):
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                self.fail(f"unclosed {quote}")
            path = self.text[self.pos + 1:end]
            self.pos = end + 1
        else:
            end = self.text.find(")", self.pos)
            end = len(self.text) if end < 0 else end
            path = self.text[self.pos:end].strip()
            self.pos = end
        if not path:
            self.fail("expected a latent file name")
        self.expect(")")
        return path


def _as_latent(node: Node, parser: _Parser) -> Node:
    """A bare number standing for a latent is a seed (``-3`` is minus seed 3)."""
    if not isinstance(node, Number):
        return node
    if re.fullmatch(r"-\d+", node.text):
        return Scaled(node.column, -1.0, Seed(node.column + 1, int(node.text[1:])))
    if not re.fullmatch(r"\d+", node.text):
        parser.fail(f"{node.text} is not a seed (use it as a factor: {node.text}*...)",
                    node.column - 1)
    return Seed(node.column, int(node.text))


def _multiply(left: Node, right: Node, parser: _Parser, at: int) -> Node:
    if isinstance(left, Number):
        return Scaled(left.column, left.value, _as_latent(right, parser))
    if isinstance(right, Number):
        return Scaled(left.column, right.value, left)
    parser.fail("cannot multiply two latents (one side of '*' must be a number)", at)


def _divide(left: Node, right: Node, parser: _Parser, at: int) -> Node:
    if not isinstance(right, Number):
        parser.fail("can only divide by a number", at)
    if right.value == 0:
        parser.fail("division by zero", right.column - 1)
    return Scaled(left.column, 1.0 / right.value, _as_latent(left, parser))
