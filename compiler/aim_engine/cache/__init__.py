"""The shared model cache (Hugging Face hub layout plus the seed's index) and the hub import of model files."""
