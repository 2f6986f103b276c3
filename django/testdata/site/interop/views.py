"""JSON views that the Go test drives. No CSRF middleware is installed."""
import json

from django.contrib import auth
from django.contrib.auth.models import User
from django.http import JsonResponse

INTERNAL = ("_auth_user_id", "_auth_user_backend", "_auth_user_hash", "_session_expiry")


def signup(request):
    user = User.objects.create_user(request.POST["username"], password=request.POST["password"])
    return JsonResponse({"id": str(user.pk)})


def login(request):
    user = auth.authenticate(request, username=request.POST["username"], password=request.POST["password"])
    if user is None:
        return JsonResponse({"error": "bad credentials"}, status=403)
    auth.login(request, user)
    return JsonResponse({"user": str(user.pk), "key": request.session.session_key})


def logout(request):
    auth.logout(request)
    return JsonResponse({})


def whoami(request):
    s = request.session
    values = {k: v for k, v in s.items() if k not in INTERNAL}
    return JsonResponse(
        {
            "user": str(request.user.pk) if request.user.is_authenticated else None,
            "key": s.session_key,
            "values": values,
            "expiry_age": s.get_expiry_age(),
            "expiry_date": s.get_expiry_date().isoformat(),
            "browser_close": s.get_expire_at_browser_close(),
            "raw_expiry": s.get("_session_expiry"),
        }
    )


def set_value(request):
    request.session[request.POST["key"]] = json.loads(request.POST["value"])
    return JsonResponse({"key": request.session.session_key})


def set_expiry(request):
    request.session.set_expiry(int(request.POST["seconds"]))
    return JsonResponse({"key": request.session.session_key})


def set_password(request):
    user = User.objects.get(username=request.POST["username"])
    user.set_password(request.POST["password"])
    user.save()
    return JsonResponse({})
