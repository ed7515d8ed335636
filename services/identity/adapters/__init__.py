"""Identity's adapters: hashing, token signing, mail texts and its private tables."""
