"""The Streamlit app: screens and their logic. Nothing else in ``mlops`` imports it."""
