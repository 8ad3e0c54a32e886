-- Machines remember the image their disk was made from; nodes report their accelerator.
ALTER TABLE machines ADD COLUMN image TEXT;
ALTER TABLE nodes ADD COLUMN accelerator TEXT;
