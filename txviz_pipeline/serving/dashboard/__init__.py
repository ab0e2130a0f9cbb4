"""The local live dashboard (Streamlit): app.py is the page, launch.py starts and stops it."""
