# ngx_qlm_webhook_module: build and test.
#
#   make                      the module against Debian's nginx (nginx-dev)
#   make NGINX_SRC=/path      the module against an nginx source tree
#   make asan                 the module, store and search with ASan + UBSan
#   make fuzz                 the fuzzers: search 60 s, the others 20 s each
#   make test                 everything, then the whole suite (util/test)
#
# The module is built with nginx's own build system, warnings as errors.

TOP        := $(abspath .)
BUILD      ?= $(TOP)/build
MODULE     := ngx_http_qlm_webhook_module.so
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter
CC_OPT     ?= -g -O2
SAN_OPT    := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
DEBIAN_SRC ?= /usr/share/nginx/src

.PHONY: all module asan store store-asan search fuzz test clean \
        $(BUILD)/$(MODULE) $(BUILD)/asan/$(MODULE)

# nginx's own make decides what to rebuild: the rules always run it.  The
# .so is replaced with a rename, never rewritten in place under an nginx
# that has it loaded.

all: module store search

# qlm_search's unit tests (and its fuzzer, when clang has libFuzzer)
search:
	$(MAKE) -C ngx_qlm_webhook_module/tests O=$(BUILD)/search all

fuzz:
	$(MAKE) -C ngx_qlm_webhook_module/tests O=$(BUILD)/search fuzz

module: $(BUILD)/$(MODULE)

store:
	$(MAKE) -C lmdb-store O=$(BUILD)/lmdb-store all

store-asan:
	$(MAKE) -C lmdb-store O=$(BUILD)/asan/lmdb-store asan-build

asan: $(BUILD)/asan/$(MODULE) store-asan
	$(MAKE) -C ngx_qlm_webhook_module/tests O=$(BUILD)/asan/search \
	    CFLAGS="-O1 -g -W -Wall -Wpointer-arith -Wno-unused-parameter -Werror $(SAN_OPT)" \
	    LDFLAGS="-fsanitize=address,undefined" $(BUILD)/asan/search/01-search.t

ifdef NGINX_SRC
# a plain nginx source tree: configure there, as its README says
$(BUILD)/$(MODULE):
	mkdir -p $(BUILD)
	cd $(NGINX_SRC) && \
	    if [ -x ./configure ]; then cfg=./configure; \
	    else cfg=auto/configure; fi && \
	    $$cfg --with-compat --with-http_ssl_module --with-debug \
	        --with-cc-opt="$(CC_OPT) $(WARN)" \
	        --add-dynamic-module=$(TOP) && \
	    $(MAKE) modules
	cp $(NGINX_SRC)/objs/$(MODULE) $@.tmp && mv $@.tmp $@
else
# Debian's nginx: its headers and configure flags from nginx-dev, so that
# the module loads into /usr/sbin/nginx
$(BUILD)/$(MODULE):
	TOP=$(TOP) OUT=$(BUILD)/nginx-debian CC_OPT="$(CC_OPT) $(WARN)" \
	    DEBIAN_SRC=$(DEBIAN_SRC) bash util/build-debian
	cp $(BUILD)/nginx-debian/objs/$(MODULE) $@.tmp && mv $@.tmp $@
endif

$(BUILD)/asan/$(MODULE):
	TOP=$(TOP) OUT=$(BUILD)/asan/nginx-debian \
	    CC_OPT="$(SAN_OPT) $(WARN)" LD_OPT="-fsanitize=address,undefined" \
	    DEBIAN_SRC=$(DEBIAN_SRC) bash util/build-debian
	cp $(BUILD)/asan/nginx-debian/objs/$(MODULE) $@.tmp && mv $@.tmp $@
	printf '#!/bin/sh\n%s\nexec /usr/sbin/nginx "$$@"\n' \
	    "export LD_PRELOAD=\"$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)\"" \
	    > $(BUILD)/asan/nginx
	chmod +x $(BUILD)/asan/nginx

test:
	bash util/test

clean:
	rm -rf $(BUILD) t/servroot
