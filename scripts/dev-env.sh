# Sourced by the scripts `just run` uses: exports each `NAME=value` of a
# dev.env file (the public development passwords) unless NAME is already
# set in the environment, which wins.
load_dev_env() {
    local name value
    while IFS='=' read -r name value; do
        [[ $name =~ ^[A-Z_]+$ ]] || continue
        export "$name=${!name:-$value}"
    done < "$1"
}
