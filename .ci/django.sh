# shellcheck shell=bash
# What the interop test of package django (django/interop_test.go) needs
# beyond Redis and PostgreSQL: a real Django site, Debian's python3-django
# (3.2) with django-redis, django-ipware (which django-qsessions'
# middleware imports) and psycopg2. django-qsessions 1.1.4 itself is
# vendored in django/testdata/site. Sourced by .ci/run after services.sh
# (it uses apt_install):
#
#	source .ci/django.sh && django_deps
django_deps() {
	local p missing=()
	for p in python3-django python3-django-redis python3-django-ipware python3-psycopg2; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		apt_install "${missing[@]}"
	fi
	# Debian's Python, which has these modules, whatever python3 comes
	# first on PATH.
	export QSESSIONS_DJANGO_PYTHON=/usr/bin/python3
	"$QSESSIONS_DJANGO_PYTHON" -c 'import django, django_redis, psycopg2; print("django", django.get_version(), "django-redis", django_redis.__version__)'
}
