#!/usr/bin/env bash
# The structural rules of issue 19, checked on the source tree (not on a build):
#   - no .c/.h file outside tests/ over 700 lines;
#   - no C function outside tests/ over 80 lines, counted from the first line of its definition
#     (attributes and a signature over several lines included) to its closing `}` at column 0;
#   - no comment in tensor/ autograd/ nn/ models/ quoting a timing (µs, a number followed by s,
#     ms, us or ns, "1.4x faster", "× slower", "30% faster", a GFLOP/s figure; "at least 0.05 s"
#     is a bound, not a timing): comments say why, and measurements live in
#     docs/performance.md, with the processor they were taken on;
#   - README.md at most 200 lines, and every relative Markdown link in README.md and docs/*.md
#     resolves to a file or directory inside the repository.
# Only comments count for the timing rule: a variable named `ms` or a string is not a comment.
# usage: tree_rules.sh [SOURCE_ROOT]   (default: the directory above this script)
# Prints one line per violation, `file:line: what`, then a summary; exit 0 when there is none,
# 1 otherwise.
set -u
root=$(cd "${1:-$(dirname "$0")/..}" && pwd -P) || exit 1
cd "$root" || exit 1

MAX_FILE_LINES=700
MAX_FUNCTION_LINES=80
MAX_README_LINES=200

# The tree's files, relative to the root: git's list (tracked, and new files not ignored) in a
# checkout; otherwise every file outside hidden directories and build directories.
list_files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -co --exclude-standard |
            while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
    else
        find . \( -name '.*' ! -name . -o -exec test -e '{}/build.ninja' ';' \) -prune \
            -o -type f -print | sed 's|^\./||'
    fi
}
files=$(list_files | LC_ALL=C sort)
c_outside_tests=$(printf '%s\n' "$files" | grep -E '\.(c|h)$' | grep -v '^tests/')
commented=$(printf '%s\n' "$files" | grep -E '^(tensor|autograd|nn|models)/' |
    grep -E '\.(c|h|def|sh)$|(^|/)meson\.build$')

violations=$(
    # ---- files over MAX_FILE_LINES lines ----
    for f in $c_outside_tests; do
        n=$(wc -l <"$f")
        [ "$n" -gt "$MAX_FILE_LINES" ] && echo "$f:1: $n lines (at most $MAX_FILE_LINES)"
    done

    # ---- functions over MAX_FUNCTION_LINES lines ----
    # A definition starts at a column-0 line that begins an identifier after a blank line, a
    # comment, a preprocessor line, a `;` or a `}`; lines up to a `{` at column 0 are its
    # signature, and the first `}` at column 0 ends it.  A block whose signature has no `(` or
    # ends with `=` (a struct, an initializer) is not a function.
    # shellcheck disable=SC2086
    [ -n "$c_outside_tests" ] && awk -v max="$MAX_FUNCTION_LINES" '
        FNR == 1 { sig = 0; infunc = 0; incomment = 0; inmacro = 0 }
        inmacro { inmacro = /\\$/; next }
        incomment { if (index($0, "*/")) incomment = 0; next }
        infunc {
            if (/^}/) {
                n = FNR - start + 1
                if (n > max)
                    printf "%s:%d: function %s is %d lines (at most %d)\n", FILENAME, start, name, n, max
                infunc = 0; sig = 0
            }
            next
        }
        /^[ \t]*#/ { inmacro = /\\$/; sig = 0; next }
        /^[ \t]*$/ { sig = 0; next }
        /^[ \t]*(\/\*|\/\/)/ {
            sig = 0
            if (/^[ \t]*\/\*/ && !index(substr($0, index($0, "/*") + 2), "*/")) incomment = 1
            next
        }
        /^{/ {
            if (sig && index(text, "(") && text !~ /=[ \t]*$/) {
                pre = substr(text, 1, index(text, "(") - 1)
                name = "?"
                if (match(pre, /[A-Za-z_][A-Za-z_0-9]*[ \t]*$/)) name = substr(pre, RSTART, RLENGTH)
                sub(/[ \t]+$/, "", name)
                infunc = 1; start = sig
            }
            sig = 0
            next
        }
        /^}/ { sig = 0; next }
        /^[A-Za-z_]/ { if (!sig) { sig = FNR; text = "" } }
        sig {
            line = $0
            sub(/\/\/.*$/, "", line)
            text = text " " line
            if (line ~ /[;}][ \t]*$/) sig = 0
        }
    ' $c_outside_tests

    # ---- timings quoted in comments ----
    # C-like files: the text of every /* */ and // comment (strings and character literals
    # skipped); shell and meson files: what follows a # that starts a word outside quotes.
    # shellcheck disable=SC2086
    [ -n "$commented" ] && awk '
        function report(text, line,   t) {
            t = text
            gsub(/(at least|at most|every|after|within) [0-9.]+ ?s/, "", t) # a bound, not a timing
            if (t ~ /µs/ || t ~ /[0-9] ?(s|ms|us|ns)([^A-Za-z0-9_]|$)/ ||
                t ~ /[0-9] ?(x|×) (faster|slower)/ || t ~ /[0-9] ?% (faster|slower)/ ||
                t ~ /[0-9] ?GFLOP\/s/)
                printf "%s:%d: a comment quotes a timing: %s\n", FILENAME, line, trim(text)
        }
        function trim(s) {
            gsub(/^[ \t*\/#]+|[ \t*\/]+$/, "", s)
            return length(s) > 90 ? substr(s, 1, 87) "..." : s
        }
        FNR == 1 { incomment = 0; shell = FILENAME ~ /(\.sh|meson\.build)$/ }
        shell {
            q = ""
            for (i = 1; i <= length($0); i++) {
                c = substr($0, i, 1)
                if (q != "") { if (c == q) q = ""; else if (c == "\\" && q == "\"") i++; continue }
                if (c == "\"" || c == "\047") { q = c; continue }
                if (c == "\\") { i++; continue }
                if (c == "#" && (i == 1 || substr($0, i - 1, 1) ~ /[ \t]/)) {
                    report(substr($0, i + 1), FNR)
                    break
                }
            }
            next
        }
        {
            s = $0; n = length(s); text = ""; q = ""
            for (i = 1; i <= n; i++) {
                c = substr(s, i, 1)
                if (incomment) {
                    if (c == "*" && substr(s, i + 1, 1) == "/") { incomment = 0; i++; text = text " " }
                    else text = text c
                    continue
                }
                if (q != "") { if (c == "\\") i++; else if (c == q) q = ""; continue }
                if (c == "\"" || c == "\047") { q = c; continue }
                if (c == "/" && substr(s, i + 1, 1) == "*") { incomment = 1; i++; continue }
                if (c == "/" && substr(s, i + 1, 1) == "/") { text = text substr(s, i + 2); break }
            }
            if (text != "") report(text, FNR)
        }
    ' $commented

    # ---- README.md length ----
    if [ -f README.md ]; then
        n=$(wc -l <README.md)
        [ "$n" -gt "$MAX_README_LINES" ] &&
            echo "README.md:$MAX_README_LINES: $n lines (at most $MAX_README_LINES)"
    else
        echo "README.md:1: missing"
    fi

    # ---- relative Markdown links in README.md and docs/*.md ----
    # Inline links and images [text](target) and reference definitions [label]: target, outside
    # fenced code blocks and code spans; URLs with a scheme and anchors within the page are
    # not files.  A target resolves against the page's directory and must stay inside the root.
    for md in README.md docs/*.md; do
        [ -f "$md" ] || continue
        awk '
            /^[ \t]*(```|~~~)/ { fence = !fence; next }
            fence { next }
            {
                s = $0
                gsub(/`[^`]*`/, "", s)
                if (match(s, /^[ \t]*\[[^]]+\]:[ \t]*[^ \t]+/)) {
                    t = substr(s, RSTART, RLENGTH); sub(/^[^]]*\]:[ \t]*/, "", t); print FNR "\t" t
                }
                while (match(s, /\]\([^)]*\)/)) {
                    t = substr(s, RSTART + 2, RLENGTH - 3); s = substr(s, RSTART + RLENGTH)
                    sub(/^[ \t]*</, "", t); sub(/>.*$/, "", t); sub(/^[ \t]+/, "", t); sub(/[ \t].*$/, "", t)
                    print FNR "\t" t
                }
            }
        ' "$md" | while IFS=$'\t' read -r line target; do
            case $target in '' | '#'* | [a-zA-Z]*:*) continue ;; esac
            path=${target%%#*}
            path=${path%%\?*}
            [ -n "$path" ] || continue
            case $path in
                /*) resolved=$root$path ;;
                *) resolved=$(realpath -m "$(dirname "$md")/$path") ;;
            esac
            case $resolved/ in
                "$root"/*) [ -e "$resolved" ] || echo "$md:$line: link to $target: no such file" ;;
                *) echo "$md:$line: link to $target leaves the repository" ;;
            esac
        done
    done
)

if [ -n "$violations" ]; then
    printf '%s\n' "$violations"
    echo "tree_rules: $(printf '%s\n' "$violations" | wc -l) violation(s)"
    exit 1
fi
echo "tree_rules: ok"
exit 0
