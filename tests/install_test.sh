#!/usr/bin/env bash
# Installs the library into a scratch DESTDIR and compiles a tiny program against the installed
# copy with pkg-config, as a C programmer would.  usage: install_test.sh BUILD_DIR [SANITIZERS]
# (SANITIZERS: the build's b_sanitize value; a sanitized library needs the same flags to link.)
set -eu
build=$1
sanitize=${2:-none}
extra=""
[ "$sanitize" = none ] || extra="-fsanitize=$sanitize"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --quiet >/dev/null
pc=$(find "$tmp" -name tapegrad.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL - no tapegrad.pc installed"; echo "0 passed, 1 failed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$tmp$prefix" --cflags --libs tapegrad)
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <autograd/ops.h>
/* d/dw of sum((w·x)²) for w = 3, x = 2 is 2·(w·x)·x = 24. */
int main(void)
{
    tg_error err;
    tg_param w;
    tg_param_init(&w, "w", 2, (size_t[]){1, 1}, &err);
    w.value.data[0] = 3.0f;
    tg_tensor x;
    tg_tensor_zeros2(&x, 1, 1, &err);
    x.data[0] = 2.0f;
    tg_tape *tape = tg_tape_new(&err);
    tg_node *loss = tg_sum(tape, tg_square(tape, tg_matmul(tape, tg_input(tape, &x), tg_param_leaf(tape, &w), false, false)));
    int rc = tg_backward(tape, loss, &err);
    printf("loss=%g grad=%g\n", loss->value.data[0], w.grad.data[0]);
    int ok = rc == 0 && loss->value.data[0] == 36.0f && w.grad.data[0] == 24.0f;
    tg_tape_free(tape);
    tg_tensor_free(&x);
    tg_param_free(&w);
    return ok ? 0 : 1;
}
C
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $extra "$tmp/prog.c" -o "$tmp/prog" $flags
"$tmp/prog"
echo "1 passed, 0 failed"
