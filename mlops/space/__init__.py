"""The Hugging Face Space: the app bundle and the prediction log it syncs to a Hub dataset."""
