-- SSH public keys users keep, to give guests at create; one key once per user.
CREATE TABLE ssh_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (user_id, fingerprint)
);
-- What each machine's guest is given at boot (cloud-init's NoCloud data). The keys are
-- copies (JSON: name, fingerprint, key), so deleting a key from an account does not change
-- what a guest was given. The user data may hold secrets: only its owners' and operators'
-- requests read it. `revision` counts changes; with the machine id it is the instance id.
CREATE TABLE machine_guests (
    machine_id  TEXT PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
    hostname    TEXT NOT NULL,
    ssh_keys    TEXT NOT NULL DEFAULT '[]',
    user_data   TEXT,
    network     TEXT,
    revision    BIGINT NOT NULL
);
