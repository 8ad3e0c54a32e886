-- How far each node's CPUs, memory and disk may be promised: OpenStack's defaults (CPU 4,
-- memory and disk 1), set by admins per node.
ALTER TABLE nodes ADD COLUMN cpu_ratio REAL NOT NULL DEFAULT 4.0;
ALTER TABLE nodes ADD COLUMN memory_ratio REAL NOT NULL DEFAULT 1.0;
ALTER TABLE nodes ADD COLUMN disk_ratio REAL NOT NULL DEFAULT 1.0;
