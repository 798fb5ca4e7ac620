# Sourced by the bench scripts. unreachable_spool [LINE...]: a fresh scratch directory
# $OUT with a spool whose smarthost refuses connections, OUTBOX_CONFIG pointing at it;
# each LINE is added to the configuration.
unreachable_spool() {
    rm -rf "$OUT"; mkdir -p "$OUT"
    {
        printf 'spool_directory = %s/spool\ndomain = example.org\nadmin_address = admin@example.net\n' "$OUT"
        printf 'aliases_file = %s/aliases\nsmarthost = smtp://127.0.0.1:1\nconnect_timeout = 2s\n' "$OUT"
        for line in "$@"; do printf '%s\n' "$line"; done
    } > "$OUT/outbox.conf"
    : > "$OUT/aliases"
    export OUTBOX_CONFIG=$OUT/outbox.conf
}
