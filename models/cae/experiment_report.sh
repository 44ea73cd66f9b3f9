# The report of models/cae/experiment.sh (sourced by it, inside OUT_DIR): every number is read
# from this run's files; the verdicts are computed, never written by hand.  write_report prints
# markdown; IMG is the directory its pictures are linked from.

# value KEY FILE: the value of KEY= in FILE's first line that has it.
value() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -n 1; }
# seeds_of NAME KEY: KEY of NAME's evaluation, one line per pre-training seed.
seeds_of() { local s; for s in "${PSEEDS[@]}"; do value "$2" "$1-s$s.eval.txt"; done; }
# errors ARM: test error (%) of every fine-tuned MLP of ARM, in (p, f) order.
errors() { awk -F'\t' -v a="$1" '$1 == a { printf "%.6f\n", 100 * (1 - $4) }' runs.tsv; }
# stats [SCALE] < numbers: "mean ± sd" (sample sd; sd 0 for one number), the numbers times SCALE.
stats() {
    awk -v k="${1:-1}" 'NF { x[n++] = $1 * k } END {
        if (!n) { print "—"; exit }
        for (i = 0; i < n; i++) m += x[i] / n
        for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
        sd = n > 1 ? sqrt(v / (n - 1)) : 0
        f = (m != 0 && (m < 0 ? -m : m) < 0.01) ? "%.3g ± %.2g" : "%.4g ± %.2g"
        printf f, m, sd }'
}
fmt() { awk -v x="$1" 'BEGIN { if (x == "") print "—"; else printf "%.4g", x }'; }
mean_of() { awk 'NF { s += $1; n++ } END { if (n) printf "%.6g", s / n }'; }

# paired A B: the test-error differences A − B over the (p, f) pairs both have, then the same over
# the pre-training seeds' means (the conservative count: the pairs of one seed share its encoder).
# Prints: n mean sd t significant | n_seeds mean sd t significant | wins
paired() {
    awk -F'\t' -v a="$1" -v b="$2" '
        function tcrit(df) { # two-sided 5% critical value of Student t
            split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086", t, " ")
            return df < 1 ? 0 : df <= 20 ? t[df] : 2.04 }
        function summary(x, n,    i, m, v, sd, tt) {
            if (n < 2) return (n + 0) " — — — no"
            for (i = 0; i < n; i++) m += x[i] / n
            for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
            sd = sqrt(v / (n - 1)); tt = sd > 0 ? m / (sd / sqrt(n)) : (m == 0 ? 0 : 1e9)
            return sprintf("%d %.3f %.3f %.2f %s", n, m, sd, tt, (tt > tcrit(n - 1) || -tt > tcrit(n - 1)) ? "yes" : "no") }
        { key = $2 "," $3 } $1 == a { ea[key] = 100 * (1 - $4) } $1 == b { eb[key] = 100 * (1 - $4) }
        END {
            for (k in ea) if (k in eb) {
                d[n++] = ea[k] - eb[k]; wins += ea[k] < eb[k]
                split(k, pf, ","); ps[pf[1]] += ea[k] - eb[k]; pc[pf[1]]++ }
            for (p in ps) s[m++] = ps[p] / pc[p]
            print summary(d, n) " | " summary(s, m) " | " wins + 0 }' runs.tsv
}
# paired_row A B: one table row of paired A B.
paired_row() {
    local r; r=$(paired "$1" "$2")
    echo "$r" | awk -v a="$1" -v b="$2" -F' [|] ' '{
        split($1, x, " "); split($2, y, " ")
        printf "| %s − %s | %s ± %s (n = %d) | %s | **%s** | %s ± %s (n = %d) | %s | **%s** | %d of %d |\n",
            a, b, x[2], x[3], x[1], x[4], x[5], y[2], y[3], y[1], y[4], y[5], $3, x[1] }'
}
# significant_better A B: A's error significantly below B's on both counts.
significant_better() {
    paired "$1" "$2" | awk -F' [|] ' '{ split($1, x, " "); split($2, y, " ")
        exit !(x[5] == "yes" && x[2] < 0 && y[5] == "yes" && y[2] < 0) }'
}
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'; }
yes_no() { if "$@"; then echo "**yes**"; else echo "**no**"; fi; }

# ratios NAME KIND: the first seed's contraction ratios along KIND (random: contraction_R,
# otherwise contraction_KIND_R), one per radius, from NAME's evaluation.
ratios() {
    local r key
    for r in ${RADII//,/ }; do
        key=contraction_$r && [ "$2" = random ] || key=contraction_$2_$r
        value "$key" "$1-s$FIRST.eval.txt"
    done
}
every_radius_below() { paste <(ratios "$1" random) <(ratios "$2" random) | awk 'NF == 2 { n++; k += $1 < $2 } END { exit !(n && k == n) }'; }
# rise NAME: "peak/first at r = peak radius" of the random-direction curve.
rise() { paste <(echo "${RADII//,/$'\n'}") <(ratios "$1" random) |
    awk 'NR == 1 { f = $2 } $2 > m { m = $2; r = $1 } END { printf "%.3f %s", m / f, r }'; }
rises() { rise "$1" | awk -v r0="${RADII%%,*}" '{ exit !($1 > 1.01 && $2 != r0) }'; }

# The CAE's Hessian term at CAE+H's ‖J‖_F, interpolated (log-log) between the first seed's CAEs
# of the λ sweep; empty when CAE+H's ‖J‖_F is outside their range.
matched_hessian() {
    local x; x=$(value jac_fro "CAE+H-s$FIRST.eval.txt")
    for n in CAE "${SWEEP[@]/#/CAE@}"; do
        echo "$(value jac_fro "$n-s$FIRST.eval.txt") $(value hess_fro2 "$n-s$FIRST.eval.txt")"
    done | sort -g | awk -v x="$x" '{ j[n] = log($1); h[n] = log($2); n++ } END {
        for (i = 0; i + 1 < n; i++) if (log(x) >= j[i] && log(x) <= j[i + 1] && j[i + 1] > j[i]) {
            t = (log(x) - j[i]) / (j[i + 1] - j[i]); printf "%.4g", exp(h[i] + t * (h[i + 1] - h[i])); exit } }'
}

table1_row() { # NAME LABEL [ARM]
    local n=$1
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(errors "${3:-$1}" | stats)" \
        "$(seeds_of "$n" jac_fro | stats)" "$(seeds_of "$n" saturated | stats 100)" "$(seeds_of "$n" dead | stats 100)" \
        "$(seeds_of "$n" test_mse | stats)" "$(seeds_of "$n" hess_fro2 | stats)"
}

write_report() {
    local npairs=$(( ${#PSEEDS[@]} * ${#FSEEDS[@]} )) cpu
    cpu=$(grep -m1 -E 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')
    local avx=no; grep -q avx512f /proc/cpuinfo 2>/dev/null && avx=yes
    local hm; hm=$(matched_hessian)
    echo "# The contractive autoencoder against its baselines, as Rifai et al. (2011) ran it"
    echo
    echo "Generated by \`models/cae/experiment.sh$([ $QUICK = 1 ] && echo ' --quick')$([ "${DOCS_LINKS:-0}" = 1 ] && echo ' --docs')\`"
    echo "on $(date -u '+%Y-%m-%d'), ${cpu:-unknown CPU} (AVX-512: $avx), $(nproc) cores: **${TOTAL} s** in all."
    echo "Every number and every verdict below is computed from this run's files; the same settings give"
    echo "the same numbers on any thread count. How each metric is defined: [experiment-methods.md]($([ "${DOCS_LINKS:-0}" = 1 ] || echo ../../docs/)experiment-methods.md)."
    echo
    echo "## Setup"
    echo
    echo "- Data: \`$( [ "$DATA" = synthetic ] && echo synthetic || basename "$DATA")\`: the first $LIMIT training images, of which $VALID (drawn by each run's"
    echo "  seed) are held out for model selection — the size of the MNIST-variations sets (10000 + 2000);"
    echo "  every metric on the whole test split."
    echo "- Pre-training (\`cae train --preset rifai2011\`, the authors' model): tied weights, sigmoid"
    echo "  encoder and decoder, cross-entropy summed over pixels, weights U(±4·√(6/(D+H))), SGD lr 0.01,"
    echo "  batch 32, $PRE_EPOCHS epochs, the epoch with the lowest validation loss kept; $HIDDEN hidden units."
    echo "  λ weighs ‖J‖_F² against the *summed* cross-entropy, as in the paper (with a per-pixel mean"
    echo "  loss, as \`--loss mse\` uses, the same trade-off takes λ/D). The preset's λ is 0.1; this run's $LAMBDA"
    echo "  was chosen from a 10-epoch trial of both in which 0.1 left the contraction curve nearly flat (chosen on"
    echo "  that curve, measured on test images, never on an error rate)."
    echo "- Models: **AE** (λ = 0), **AE+wd** (weight decay $WEIGHT_DECAY on the weights), **DAE-g** (Gaussian"
    echo "  noise σ = $DAE_SIGMA on the encoder's input), **DAE-b** (masking noise: a pixel zeroed with"
    echo "  probability $DAE_MASK), **CAE** (λ = $LAMBDA), **CAE+H** (λ = $LAMBDA, γ = $GAMMA, $CORRUPTIONS corruptions of σ = $SIGMA),"
    echo "  **CAE-2** (a second CAE, $HIDDEN2 units, λ = $LAMBDA, trained on the CAE's codes: greedy stacking)."
    echo "  Pre-training seeds: ${PSEEDS[*]}. Settings were chosen once, not tuned on the test set."
    echo "- Fine-tuning: an MLP $HIDDEN (sigmoid) → 10 (CAE-2 and random-2: $HIDDEN → $HIDDEN2 → 10) on the labels,"
    echo "  Adam 1e-3, batch 64, $MLP_EPOCHS epochs, the best validation epoch kept; its hidden layers start from"
    echo "  the encoders (\`mlp train --init-encoder\`) or at random. Fine-tuning seeds: ${FSEEDS[*]}; the MLP's"
    echo "  seed is 100·p + f in every arm, so arms differ only in their starting point: $npairs pairs."
    echo
    echo "## Table 1, in the paper's layout"
    echo
    echo "Mean ± sd; test error over the $npairs fine-tuned MLPs, the encoder's metrics over the ${#PSEEDS[@]}"
    echo "pre-training seeds. SAT: hidden activations below 0.05 or above 0.95; dead: units off on more than 99%"
    echo "of the test images; Hessian term E‖J(x) − J(x+ε)‖_F² at σ = $SIGMA for every model."
    echo
    echo "| model | test error % | mean ‖J‖_F | SAT % | dead % | test MSE | Hessian term |"
    echo "|---|---|---|---|---|---|---|"
    for n in "${NAMES[@]}"; do table1_row "$n" "$n"; done
    printf '| CAE-2 (stacked) | %s | | | | | |\n' "$(errors CAE-2 | stats)"
    printf '| MLP from random init | %s | | | | | |\n' "$(errors random | stats)"
    printf '| 2-layer MLP from random init | %s | | | | | |\n' "$(errors random-2 | stats)"
    echo
    echo "## Fine-tuning: paired differences in test error"
    echo
    echo "Points of test error, A − B over the pairs with the same seeds (negative: A is better). \"Pairs\""
    echo "treats the $npairs pairs as independent; \"seeds\" averages each pre-training seed's pairs first (the"
    echo "honest count when the encoder is what varies). Significant: |t| above Student's two-sided 5% value."
    echo
    echo "| A − B | pairs: mean ± sd | t | significant | seeds: mean ± sd | t | significant | A better in |"
    echo "|---|---|---|---|---|---|---|---|"
    for n in "${NAMES[@]}"; do paired_row "$n" random; done
    paired_row CAE-2 random-2
    for n in AE AE+wd DAE-g DAE-b; do paired_row CAE "$n"; done
    paired_row CAE+H CAE
    paired_row CAE-2 CAE
    echo
    echo "## The claims, on this run"
    echo
    local rc ra; rc=$(rise CAE) ra=$(rise AE)
    echo "| claim | holds here? | numbers |"
    echo "|---|---|---|"
    echo "| the CAE's mean ‖J‖_F is below the AE's | $(yes_no below "$(seeds_of CAE jac_fro | mean_of)" "$(seeds_of AE jac_fro | mean_of)") | $(seeds_of CAE jac_fro | stats) vs $(seeds_of AE jac_fro | stats) |"
    echo "| the CAE has < 5% dead units | $(yes_no below "$(seeds_of CAE dead | mean_of)" 0.05) | $(seeds_of CAE dead | stats 100) % |"
    echo "| the CAE saturates more units than the AE | $(yes_no below "$(seeds_of AE saturated | mean_of)" "$(seeds_of CAE saturated | mean_of)") | SAT $(seeds_of CAE saturated | stats 100) % vs $(seeds_of AE saturated | stats 100) % |"
    echo "| the CAE's contraction ratio (random directions) rises with r: the contraction is local | $(yes_no rises CAE) | peak ÷ first = ${rc% *} at r = ${rc#* } (AE: ${ra% *} at r = ${ra#* }) |"
    echo "| the CAE's contraction ratio is below the AE's at every radius | $(yes_no every_radius_below CAE AE) | first seed, radii $RADII |"
    echo "| CAE+H's Hessian term is below the CAE's at matched ‖J‖_F | $(yes_no below "$(value hess_fro2 "CAE+H-s$FIRST.eval.txt")" "$hm") | $(fmt "$(value hess_fro2 "CAE+H-s$FIRST.eval.txt")") vs the CAE's $(fmt "$hm") interpolated at ‖J‖_F = $(fmt "$(value jac_fro "CAE+H-s$FIRST.eval.txt")")$([ -z "$hm" ] && echo ' (outside the λ sweep: not matched)') |"
    echo "| pre-training with the CAE lowers the test error (vs random init), significantly | $(yes_no significant_better CAE random) | see the paired table |"
    echo "| the CAE beats DAE-g, DAE-b, AE+wd and AE after fine-tuning, significantly | $(yes_no eval 'significant_better CAE DAE-g && significant_better CAE DAE-b && significant_better CAE AE+wd && significant_better CAE AE') | see the paired table |"
    echo "| the stacked CAE-2 beats the one-layer CAE, significantly | $(yes_no significant_better CAE-2 CAE) | see the paired table |"
    echo
    echo "## Contraction curves"
    echo
    echo "Ratio ‖h(x+ε) − h(x)‖ / ‖ε‖ at radius r (first seed; mean over the test images): ε uniform on the sphere"
    echo "(random) or towards another test image (data)."
    echo
    printf '| radius |'; for n in "${NAMES[@]}"; do printf ' %s random | %s data |' "$n" "$n"; done; echo
    printf '|---|'; for n in "${NAMES[@]}"; do printf -- '---|---|'; done; echo
    local columns="${RADII//,/$'\n'}"
    for n in "${NAMES[@]}"; do columns=$(paste <(echo "$columns") <(ratios "$n" random) <(ratios "$n" data)); done
    echo "$columns" | awk '{ printf "| %s |", $1; for (i = 2; i <= NF; i++) printf " %.4g |", $i; print "" }'
    echo
    echo "![contraction ratio against radius, random and data directions]($IMG/$( [ "$IMG" = . ] && echo charts/)contraction.svg)"
    echo
    if [ -n "$TANGENT_MODELS" ]; then
        echo "Along the tangent directions of the Jacobian (uniform in the span of its leading right singular"
        echo "vectors at each image, those with σ ≥ 0.1·σ_1) and orthogonal to them, first seed, first 100 test images:"
        echo
        printf '| radius |'; for n in $TANGENT_MODELS; do printf ' %s tangent | %s orthogonal |' "$n" "$n"; done; echo
        printf '|---|'; for n in $TANGENT_MODELS; do printf -- '---|---|'; done; echo
        local columns="${RADII//,/$'\n'}" r
        for n in $TANGENT_MODELS; do
            columns=$(paste <(echo "$columns") <(for r in ${RADII//,/ }; do value "contraction_tangent_$r" "$n-s$FIRST.tangent.txt"; done) \
                <(for r in ${RADII//,/ }; do value "contraction_orthogonal_$r" "$n-s$FIRST.tangent.txt"; done))
        done
        echo "$columns" | awk '{ printf "| %s |", $1; for (i = 2; i <= NF; i++) printf " %.4g |", $i; print "" }'
        echo
        for n in $TANGENT_MODELS; do
            echo "$n: anisotropy (tangent ÷ orthogonal at the smallest radius) $(fmt "$(value anisotropy "$n-s$FIRST.tangent.txt")"),"
            echo "mean tangent dimension k = $(fmt "$(value tangent_k "$n-s$FIRST.tangent.txt")") of $HIDDEN units."
        done
        echo
    fi
    echo "## CAE+H at matched ‖J‖_F"
    echo
    echo "The CAE at other λ (first seed) traces the Hessian term against ‖J‖_F; CAE+H is compared with"
    echo "that curve at its own ‖J‖_F (log-log interpolation), not with the CAE at the same λ."
    echo
    echo "| model | λ | γ | mean ‖J‖_F | Hessian term | test MSE |"
    echo "|---|---|---|---|---|---|"
    for n in CAE "${SWEEP[@]/#/CAE@}" CAE+H; do
        local lam=$LAMBDA g=0; [ "${n#CAE@}" != "$n" ] && lam=${n#CAE@}; [ "$n" = CAE+H ] && g=$GAMMA
        printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "$lam" "$g" "$(fmt "$(value jac_fro "$n-s$FIRST.eval.txt")")" \
            "$(fmt "$(value hess_fro2 "$n-s$FIRST.eval.txt")")" "$(fmt "$(value test_mse "$n-s$FIRST.eval.txt")")"
    done
    echo
    echo "## Spectra, tangents, filters"
    echo
    echo "![mean singular values of the Jacobian]($IMG/$( [ "$IMG" = . ] && echo charts/)spectrum.svg)"
    echo
    echo "The CAE's tangent directions at four test images (leading right singular vectors of J), and its filters:"
    echo
    echo "![CAE tangents]($IMG/$( [ "$IMG" = . ] && echo render-CAE/)tangents.png) ![CAE filters]($IMG/$( [ "$IMG" = . ] && echo render-CAE/)filters.png)"
    echo
    echo "## Time"
    echo
    echo "| step | seconds |"
    echo "|---|---|"
    awk -F'\t' '{ s[$1] += $2; if (!($1 in o)) o[$1] = n++ } END { for (k in o) printf "%d\t| %s | %.0f |\n", o[k], k, s[k] }' timings.txt |
        sort -n | cut -f2-
    echo "| **total** | **$TOTAL** |"
}
