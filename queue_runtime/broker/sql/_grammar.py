"""The lark grammar of Service Bus's SQL filter and rule-action language (one grammar, two start rules).

Precedence, loosest first: OR, AND, NOT, the predicates (comparison, [NOT] IN, [NOT] LIKE, IS [NOT] NULL), + and -,
* / and %, unary + and -. Keywords are case-insensitive and reserved only where they can appear (lark's contextual
lexer), so ``set`` or ``remove`` stay usable as property names in a filter. Whether an operand is a condition or a
value is checked by the compiler, which reports the position.
"""

from __future__ import annotations

__all__ = ["GRAMMAR"]

GRAMMAR = r"""
filter: or_expr
action: statement+
?statement: set_stmt (";" | ",")?
          | remove_stmt (";" | ",")?
set_stmt: _SET property COMP_OP or_expr
remove_stmt: _REMOVE property

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> not_
         | predicate
?predicate: sum COMP_OP sum -> compare
          | sum _IS NULL -> is_null
          | sum _IS _NOT NULL -> is_not_null
          | sum _IN "(" sum ("," sum)* ")" -> in_
          | sum _NOT _IN "(" sum ("," sum)* ")" -> not_in
          | sum _LIKE sum (_ESCAPE sum)? -> like
          | sum _NOT _LIKE sum (_ESCAPE sum)? -> not_like
          | _EXISTS "(" property ")" -> exists
          | sum
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: ADD_OP unary -> unary
      | primary
?primary: STRING -> string
        | NUMBER -> number
        | TRUE -> true
        | FALSE -> false
        | NULL -> null
        | PARAM -> parameter
        | property
        | IDENT "(" [sum ("," sum)*] ")" -> function
        | "(" or_expr ")"
property: IDENT "." name -> scoped
        | name -> unscoped
?name: IDENT | DELIMITED | QUOTED

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IS.2: /is\b/i
_IN.2: /in\b/i
_LIKE.2: /like\b/i
_ESCAPE.2: /escape\b/i
_EXISTS.2: /exists\b/i
_SET.2: /set\b/i
_REMOVE.2: /remove\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i

IDENT: /[^\W\d_]\w*/
DELIMITED: /\[(?:[^\]]|\]\])*\]/
QUOTED: /"(?:[^"]|"")*"/
STRING: /'(?:[^']|'')*'/
NUMBER: /(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/
PARAM: /@\w+/
COMP_OP: /<>|!=|>=|<=|=|>|</
ADD_OP: /[+-]/
MUL_OP: /[*\/%]/

%ignore /\s+/
"""
