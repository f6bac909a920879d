from django.urls import path

from . import views

account_patterns = [
    path("konto/personuppgifter/", views.consent, name="account_privacy"),
    path("konto/personuppgifter/mina-uppgifter.json", views.extract, name="account_extract"),
]
