"""Self-tests of the harness's comparison helpers (no binary needed): they must be able to
fail, or the oracle comparisons above prove nothing."""

import unittest

from qmp_harness import Schema, command_schema_diff, shape, shape_diff


def schema(masks, member_type="int", optional=False, enum_values=("a", "b"), extra=None):
    """A tiny query-qmp-schema: command "cmd" with args {x: <member_type>, e: enum} and a
    return array of str; type names are masked with the given names."""
    arg, en, ret = masks
    member = {"name": "x", "type": member_type}
    if optional:
        member["default"] = None
    members = [member, {"name": "e", "type": en}] + ([extra] if extra else [])
    return Schema([
        {"name": "cmd", "meta-type": "command", "arg-type": arg, "ret-type": ret},
        {"name": arg, "meta-type": "object", "members": members},
        {"name": en, "meta-type": "enum", "values": list(enum_values)},
        {"name": ret, "meta-type": "array", "element-type": "str"},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
    ])


class HarnessSelfTest(unittest.TestCase):

    def test_shape(self):
        self.assertEqual(shape({"a": [1, 2], "b": {"c": None, "d": "x", "e": True}}),
                         {"a": ["number"], "b": {"c": "null", "d": "string", "e": "bool"}})
        self.assertEqual(shape_diff(shape({"a": 1}), shape({"a": 2})), [])
        self.assertEqual(shape_diff(shape({"a": 1}), shape({"a": "2"})),
                         ["$.a: number, expected string"])
        self.assertEqual(shape_diff(shape({"a": 1}), shape({"b": 1})),
                         ["$.b: missing", "$.a: unexpected"])
        self.assertEqual(shape_diff(shape([{"a": 1}]), shape([{"a": []}])),
                         ["$[0].a: number, expected array"])
        self.assertEqual(shape_diff(shape([]), shape([{"a": 1}])), [])
        # members missing from some elements are optional
        self.assertEqual(shape([{"a": 1}, {"a": 2, "b": "x"}]),
                         [{"a": "number", "b": "string", "?optional": ["b"]}])
        self.assertEqual(shape_diff(shape([{"a": 1}]), shape([{"a": 2, "b": "x"}, {"a": 3}])),
                         [])
        self.assertEqual(shape_diff(shape([{"b": "x"}]), shape([{"a": 2, "b": "x"}, {"a": 3}])),
                         ["$[0].a: missing"])
        self.assertEqual(shape_diff(shape([{"a": "x"}]), shape([{"a": 2}, {"a": None}])),
                         ["$[0].a: string, expected null|number"])

    def test_schema_masked_names_are_resolved(self):
        a = schema(("1", "2", "3"))
        b = schema(("17", "5", "[str]"))
        self.assertEqual(command_schema_diff(a, b, "cmd"), [])

    def test_schema_differences_are_found(self):
        b = schema(("17", "5", "9"))
        self.assertTrue(command_schema_diff(schema(("1", "2", "3"), member_type="str"), b,
                                            "cmd"))
        self.assertTrue(command_schema_diff(schema(("1", "2", "3"), optional=True), b, "cmd"))
        self.assertTrue(command_schema_diff(
            schema(("1", "2", "3"), extra={"name": "y", "type": "int"}), b, "cmd"))
        self.assertTrue(command_schema_diff(schema(("1", "2", "3"), enum_values=("a", "z")),
                                            b, "cmd"))
        # fewer enum values than QEMU is allowed (nemu has fewer object types etc.)
        self.assertEqual(command_schema_diff(schema(("1", "2", "3"), enum_values=("a",)), b,
                                             "cmd"), [])


if __name__ == "__main__":
    unittest.main()
