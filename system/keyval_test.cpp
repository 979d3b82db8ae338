// QemuOpts and keyval grammars; expectations from QEMU 7.2 (commands in comments).
#include "system/keyval.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

TEST(Opts, ImpliedKeyAndPairs) {
    auto r = parse_opts("virtio-blk-pci,drive=d,id=x", "driver");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->items.size(), 3u);
    EXPECT_EQ(r->items[0], (KeyValue{"driver", "virtio-blk-pci"}));
    EXPECT_EQ(*r->get("drive"), "d");
    EXPECT_FALSE(r->help);
}

TEST(Opts, CommaEscapeAndFlags) {
    auto r = parse_opts("1G,,x", "size"); // qemu -m 1G,,x : size value is "1G,x"
    ASSERT_TRUE(r);
    EXPECT_EQ(*r->get("size"), "1G,x");
    r = parse_opts("timestamp", ""); // qemu -msg timestamp : accepted (deprecated short form)
    EXPECT_EQ(*r->get("timestamp"), "on");
    r = parse_opts("null,id=x,nowait", "backend"); // qemu -chardev null,id=x,nowait
    EXPECT_EQ(*r->get("wait"), "off");
    r = parse_opts(",e1000", "driver"); // qemu -device ,e1000 : driver '' and e1000=on
    EXPECT_EQ(*r->get("driver"), "");
    EXPECT_EQ(*r->get("e1000"), "on");
    r = parse_opts("", "size");
    EXPECT_TRUE(r->items.empty());
    r = parse_opts("a=1,a=2", "");
    EXPECT_EQ(*r->get("a"), "2");
}

TEST(Opts, Help) {
    EXPECT_TRUE(parse_opts("memory-backend-ram,help", "qom-type")->help);
    EXPECT_TRUE(parse_opts("help", "driver")->help);
    EXPECT_TRUE(parse_opts("e1000,?", "driver")->help);
}

TEST(Opts, IdMustBeWellFormed) {
    // qemu -device e1000,id=1x
    auto r = parse_opts("e1000,id=1x", "driver");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "Parameter 'id' expects an identifier\n"
                             "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
    // qemu -object memory-backend-ram,id=m,,x=1 : id is "m,x=1"
    EXPECT_FALSE(parse_opts("memory-backend-ram,id=m,,x=1", "qom-type"));
    EXPECT_TRUE(id_wellformed("a.b-c_1"));
}

TEST(Opts, Checked) {
    // qemu -msg foo=on
    EXPECT_EQ(parse_opts_checked("foo=on", "", {"timestamp"}).error().msg, "Invalid parameter 'foo'");
}

TEST(Keyval, NestedAndLists) {
    auto r = parse_keyval("file,node-name=a,file.filename=/x,opts.0=a,opts.1=b", "driver");
    ASSERT_TRUE(r) << r.error().msg;
    EXPECT_EQ(dump_json(*r), R"({"driver":"file","node-name":"a","file":{"filename":"/x"},"opts":["a","b"]})");
}

TEST(Keyval, Errors) {
    // qemu -blockdev driver=file,filename
    EXPECT_EQ(parse_keyval("driver=file,filename", "driver").error().msg,
              "Expected '=' after parameter 'filename'");
    // qemu -blockdev driver=file,node-name=a,filename=/x,a..b=1
    EXPECT_EQ(parse_keyval("driver=file,a..b=1", "driver").error().msg, "Invalid parameter 'a..b'");
    // qemu -blockdev file,node-name=a,filename=/x,1a=2
    EXPECT_EQ(parse_keyval("file,1a=2", "driver").error().msg, "Invalid parameter '1a'");
    // qemu -blockdev driver=file,file.filename=x,file=y  (and the reverse order)
    EXPECT_EQ(parse_keyval("driver=file,file.filename=x,file=y", "driver").error().msg,
              "Parameters 'file.*' used inconsistently");
    EXPECT_EQ(parse_keyval("driver=file,file=y,file.filename=x", "driver").error().msg,
              "Parameters 'file.*' used inconsistently");
    // qemu -blockdev driver=null-co,x.1=1
    EXPECT_EQ(parse_keyval("driver=null-co,x.1=1", "driver").error().msg, "Parameter 'x.0' missing");
    // qemu -blockdev driver=null-co,x.0=1,x.a=2
    EXPECT_EQ(parse_keyval("driver=null-co,x.0=1,x.a=2", "driver").error().msg,
              "Parameters 'x.*' used inconsistently");
    // qemu -blockdev null-co,,x
    EXPECT_EQ(parse_keyval("null-co,,x", "driver").error().msg, "Invalid parameter ''");
    // qemu -machine none,accel
    EXPECT_EQ(parse_keyval("none,accel", "type").error().msg, "Expected '=' after parameter 'accel'");
    std::string longkey(130, 'a');
    EXPECT_EQ(parse_keyval("driver=x," + longkey + "=1", "driver").error().msg,
              "Parameter '" + longkey + "' is too long");
}

TEST(Keyval, Help) {
    bool help = false;
    ASSERT_TRUE(parse_keyval("driver=null-co,help", "driver", &help));
    EXPECT_TRUE(help);
}

TEST(Json, LibvirtShapes) {
    auto r = parse_json_or_opts(
        R"({"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824})", "qom-type");
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)["size"], 1073741824);
    r = parse_json_or_keyval(
        R"({"driver":"file","filename":"/x.img","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"})",
        "driver");
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)["auto-read-only"], true);
    r = parse_json_or_opts("memory-backend-ram,id=m,size=1G", "qom-type");
    EXPECT_EQ(dump_json(*r), R"({"qom-type":"memory-backend-ram","id":"m","size":"1G"})");
}

TEST(Json, Errors) {
    // qemu -object '{bad'
    EXPECT_EQ(parse_json_option("{bad").error().msg, "JSON parse error, invalid keyword 'bad'");
    // qemu -blockdev '{"driver":"null-co"'
    EXPECT_EQ(parse_json_option(R"({"driver":"null-co")").error().msg, "JSON parse error, premature EOI");
    // qemu -device '{"driver":"e1000",}'
    EXPECT_EQ(parse_json_option(R"({"driver":"e1000",})").error().msg, "JSON parse error, expecting value");
    // qemu -blockdev '{"driver":"null-co"}x'
    EXPECT_EQ(parse_json_option(R"({"driver":"null-co"}x)").error().msg, "Expecting at most one JSON value");
}

} // namespace
} // namespace nemu::cmdline
