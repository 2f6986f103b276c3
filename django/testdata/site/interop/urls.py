from django.urls import path

from . import views

urlpatterns = [
    path("signup", views.signup),
    path("login", views.login),
    path("logout", views.logout),
    path("whoami", views.whoami),
    path("set", views.set_value),
    path("expiry", views.set_expiry),
    path("password", views.set_password),
]
