#include "qom/object.h"

#include <gtest/gtest.h>

#include "qom/type_registry.h"

namespace nemu::qom {
namespace {

class Widget : public Object {
public:
    uint32_t m_count = 3;
    bool m_enabled = false;
    std::string m_label;
    Object* m_peer = nullptr;
    Result<> on_complete() override {
        if (m_count == 0) return fail("count must be positive");
        return {};
    }
};

class Gadget : public Widget {};

TypeRegistry make_registry() {
    TypeRegistry r;
    register_base_types(r);
    r.add(TypeInfo{.name = "widget-iface", .parent = "interface", .interface = true});
    r.add(TypeInfo{.name = "widget",
                   .parent = "object",
                   .interfaces = {"widget-iface", "user-creatable"},
                   .properties = {prop("count", &Widget::m_count, std::optional<uint32_t>(3), "how many"),
                                  prop("enabled", &Widget::m_enabled, std::optional<bool>(false)),
                                  prop("label", &Widget::m_label, std::optional<std::string>())},
                   .create = [] { return std::make_unique<Widget>(); }});
    r.add(TypeInfo{.name = "gadget", .parent = "widget",
                   .properties = {prop("count", &Widget::m_count, std::optional<uint32_t>(7))},
                   .create = [] { return std::make_unique<Gadget>(); }});
    r.add(TypeInfo{.name = "abstract-thing", .parent = "object", .abstract = true});
    return r;
}

TEST(TypeRegistry, HierarchyAndInterfaces) {
    auto r = make_registry();
    EXPECT_TRUE(r.is_a("gadget", "widget"));
    EXPECT_TRUE(r.is_a("gadget", "widget-iface"));
    EXPECT_TRUE(r.is_a("gadget", "user-creatable"));
    EXPECT_TRUE(r.is_a("gadget", "interface"));
    EXPECT_FALSE(r.is_a("widget", "gadget"));
    auto concrete = r.list("widget");
    ASSERT_EQ(concrete.size(), 2u);
    // object, container, widget, gadget, abstract-thing; interfaces are not objects.
    EXPECT_EQ(r.list("object", true).size(), 5u);
    EXPECT_EQ(r.list("object", false).size(), 3u);
}

TEST(TypeRegistry, CreateErrors) {
    auto r = make_registry();
    EXPECT_EQ(r.create("nope").error().msg, "invalid object type: nope");
    EXPECT_EQ(r.create("abstract-thing").error().msg, "object type 'abstract-thing' is abstract");
    auto g = r.create("gadget");
    ASSERT_TRUE(g);
    EXPECT_EQ((*g)->type_name(), "gadget");
}

TEST(TypeRegistry, DerivedDefaultOverridesParentProperty) {
    auto r = make_registry();
    auto props = r.class_properties("gadget");
    ASSERT_EQ(props.size(), 3u);
    EXPECT_EQ(props[0]->name, "count");
    EXPECT_EQ(*props[0]->default_value, 7);
}

TEST(Object, TypedPropertiesAndErrors) {
    auto r = make_registry();
    auto w = std::move(r.create("widget")).value();
    EXPECT_EQ(*w->get_property("count"), 3);
    ASSERT_TRUE(w->set_property("count", 9));
    EXPECT_EQ(*w->get_property("count"), 9);
    EXPECT_EQ(w->set_property("count", "x").error().msg, "Invalid parameter type for 'count', expected: integer");
    EXPECT_EQ(w->set_property("count", 1ull << 40).error().msg, "Parameter 'count' expects uint32");
    EXPECT_EQ(w->set_property("count", -1).error().msg, "Parameter 'count' expects uint32");
    EXPECT_EQ(w->set_property("nope", 1).error().msg, "Property 'widget.nope' not found");
    ASSERT_TRUE(w->set_property_string("enabled", "on"));
    EXPECT_EQ(*w->get_property("enabled"), true);
    EXPECT_EQ(w->set_property_string("enabled", "maybe").error().msg, "Parameter 'enabled' expects 'on' or 'off'");
    EXPECT_EQ(w->set_property_string("count", "12x").error().msg, "Parameter 'count' expects integer");
    ASSERT_TRUE(w->set_property_string("label", "a,b"));
    EXPECT_EQ(*w->get_property("label"), "a,b");
}

TEST(Object, CompleteFreezesProperties) {
    auto r = make_registry();
    auto w = std::move(r.create("widget")).value();
    ASSERT_TRUE(w->set_property("count", 0));
    EXPECT_EQ(w->complete().error().msg, "count must be positive");
    EXPECT_FALSE(w->completed());
    ASSERT_TRUE(w->set_property("count", 1));
    ASSERT_TRUE(w->complete());
    EXPECT_FALSE(w->set_property("count", 2));
}

TEST(Object, CompositionTreeAndPaths) {
    auto r = make_registry();
    auto root = std::move(r.create("container")).value();
    Object& machine = root->container("machine");
    Object& periph = machine.container("peripheral");
    auto added = periph.add_child("disk0", std::move(r.create("widget")).value());
    ASSERT_TRUE(added);
    EXPECT_EQ((*added)->canonical_path(), "/machine/peripheral/disk0");
    EXPECT_EQ(*periph.get_property("disk0"), "/machine/peripheral/disk0");
    EXPECT_EQ(periph.find_property("disk0")->type, "child<widget>");
    EXPECT_FALSE(periph.add_child("disk0", std::move(r.create("widget")).value()));
    EXPECT_EQ(resolve_path(*root, "/machine/peripheral/disk0"), *added);
    EXPECT_EQ(resolve_path(*root, "disk0"), *added);
    EXPECT_EQ(resolve_path(*root, "peripheral/disk0"), *added);
    EXPECT_EQ(resolve_path(*root, "/machine/nothing"), nullptr);
    EXPECT_EQ(resolve_path(*root, "/"), root.get());

    machine.container("unattached").add_child("disk0", std::move(r.create("gadget")).value()).value();
    bool ambiguous = false;
    EXPECT_EQ(resolve_path(*root, "disk0", &ambiguous), nullptr);
    EXPECT_TRUE(ambiguous);

    auto removed = periph.remove_child("disk0");
    ASSERT_TRUE(removed);
    EXPECT_EQ(periph.find_property("disk0"), nullptr);
    EXPECT_EQ(removed->parent(), nullptr);
}

TEST(Object, LinkPropertiesResolveAndCheckType) {
    auto r = make_registry();
    auto root = std::move(r.create("container")).value();
    Object* a = root->add_child("a", std::move(r.create("widget")).value()).value();
    Object* b = root->add_child("b", std::move(r.create("gadget")).value()).value();
    auto& wa = static_cast<Widget&>(*a);
    a->add_link_property("peer", "gadget", &wa.m_peer);
    ASSERT_TRUE(a->set_property("peer", "/b"));
    EXPECT_EQ(wa.m_peer, b);
    EXPECT_EQ(*a->get_property("peer"), "/b");
    EXPECT_FALSE(a->set_property("peer", "/a"));
    EXPECT_EQ(a->set_property("peer", "/zzz").error().cls, ErrorClass::DeviceNotFound);
    ASSERT_TRUE(a->set_property("peer", ""));
    EXPECT_EQ(wa.m_peer, nullptr);
}

} // namespace
} // namespace nemu::qom
