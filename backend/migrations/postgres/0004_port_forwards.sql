-- Ports of the node's loopback forwarded to each machine's guest, as the node reports them (JSON).
ALTER TABLE machines ADD COLUMN port_forwards TEXT NOT NULL DEFAULT '[]';
