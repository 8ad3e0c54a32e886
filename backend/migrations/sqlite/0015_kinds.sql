-- Zones beside VMs.
-- What runs each machine: 'vm' (a hardware VM) or 'zone' (an OS container). Set when it is
-- made and never changed; machines made before zones existed are VMs.
ALTER TABLE machines ADD COLUMN kind TEXT NOT NULL DEFAULT 'vm';
-- The kinds of machine a node runs (a JSON list), as its bridge reports them.
ALTER TABLE nodes ADD COLUMN kinds TEXT NOT NULL DEFAULT '["vm"]';
