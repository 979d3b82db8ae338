// The machine's implicit RAM backend and the legacy options; expectations from
// qemu-system-x86_64 -M microvm -accel tcg -m 64M [-mem-path DIR] [-mem-prealloc -smp 2]
// then query-memdev / qom-get on /objects/microvm.ram.
#include "backends/machine_ram.h"

#include "backends/backends_test_support.h"

namespace nemu::backends::test {
namespace {

constexpr uint64_t kMiB = 1ULL << 20;
using MachineRamTest = BackendTest;

TEST_F(MachineRamTest, AnonymousByDefault) {
    auto b = create_machine_ram_backend(m_types, *m_objects, "microvm.ram", 64 * kMiB, {});
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_EQ((*b)->type_name(), "memory-backend-ram");
    EXPECT_EQ((*b)->name(), "microvm.ram");
    EXPECT_EQ((*b)->size(), 64 * kMiB);
    EXPECT_EQ((*b)->ram_block_name(), "microvm.ram");
    EXPECT_TRUE((*b)->mapped());
    EXPECT_EQ(m_objects->child("microvm.ram"), *b);
}

TEST_F(MachineRamTest, MemPathAndPrealloc) {
    LegacyRamOptions opts;
    opts.mem_path = m_dir.string();
    opts.mem_prealloc = true;
    auto globals = mem_prealloc_globals(opts, 2);
    ASSERT_EQ(globals.size(), 2u);
    EXPECT_EQ(globals[0].property, "prealloc-threads");
    EXPECT_EQ(globals[0].value, "2");
    EXPECT_EQ(globals[1].property, "prealloc");
    auto apply = [&](qom::Object& o) {
        for (const auto& g : globals) {
            if (o.is_a(g.driver)) {
                ASSERT_TRUE(o.set_property_string(g.property, g.value));
            }
        }
    };
    auto b = create_machine_ram_backend(m_types, *m_objects, "ram", 8 * kMiB, opts, apply);
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_EQ((*b)->type_name(), "memory-backend-file");
    EXPECT_EQ((*b)->get_property("mem-path")->get<std::string>(), m_dir.string());
    EXPECT_TRUE((*b)->m_prealloc);
    EXPECT_EQ((*b)->m_prealloc_threads, 2u);
    EXPECT_EQ(entries(), 0u);
    EXPECT_TRUE(mem_prealloc_globals({}, 2).empty());
}

TEST_F(MachineRamTest, Errors) {
    LegacyRamOptions opts;
    opts.mem_path = "/nonexistent/x";
    auto b = create_machine_ram_backend(m_types, *m_objects, "microvm.ram", 64 * kMiB, opts);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().msg, "can't open backing store /nonexistent/x for guest RAM: No such file or directory");
    EXPECT_EQ(m_objects->child("microvm.ram"), nullptr);
    EXPECT_EQ(check_legacy_ram_options(opts, "r").error().msg,
              "'-mem-path' can't be used together with'-machine memory-backend'");
    EXPECT_TRUE(check_legacy_ram_options(opts, ""));
    EXPECT_TRUE(check_legacy_ram_options({}, "r"));
}

} // namespace
} // namespace nemu::backends::test
