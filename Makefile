# Thin wrapper over meson/ninja: ./configure once, then make, make check, make install.
# BUILD selects the build directory (./configure --builddir=DIR, then make BUILD=DIR).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all check demo fuzz install clean distclean help

all: $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)

# configure on first use with the defaults
$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD)

check:
	scripts/test.sh --builddir=$(BUILD)

demo:
	scripts/demo.sh --builddir=$(BUILD)

fuzz:
	scripts/fuzz.sh --builddir=$(BUILD)-fuzz

install: all
	meson install -C $(BUILD) --no-rebuild

clean:
	if [ -f $(BUILD)/build.ninja ]; then ninja -C $(BUILD) clean; fi

distclean:
	rm -rf $(BUILD)

help:
	@echo "make [BUILD=dir]   build (configures with defaults if needed)"
	@echo "make check         build if needed and run every test suite"
	@echo "make demo          start nemu (machine none) and show a QMP exchange"
	@echo "make fuzz          build the libFuzzer harnesses with clang and run them briefly"
	@echo "make install       install (prefix from ./configure --prefix)"
	@echo "make clean         remove build products; make distclean removes \$$(BUILD)"
