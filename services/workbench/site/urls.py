"""URL map. A second work queue (e.g. denials) adds its own views module and one include here."""

from django.contrib.auth import views as auth_views
from django.urls import path

from services.workbench import views_audit, views_claims, views_review
from services.workbench.first_login import FirstLoginPasswordChangeView

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="workbench/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", FirstLoginPasswordChangeView.as_view(), name="password-change"),
    path("", views_review.queue, name="queue"),
    path("review/<str:encounter_id>/", views_review.item, name="review-item"),
    path("review/<str:encounter_id>/resolve/", views_review.resolve, name="review-resolve"),
    path("codes/search/", views_review.code_search, name="code-search"),
    path("claims/held/", views_claims.held_list, name="held-list"),
    path("claims/held/<str:claim_id>/", views_claims.held_item, name="held-item"),
    path("claims/held/<str:claim_id>/correct/", views_claims.held_correct, name="held-correct"),
    path("claims/<str:claim_id>/", views_claims.timeline, name="claim-timeline"),
    path("encounters/<str:encounter_id>/timeline/", views_claims.encounter_timeline, name="encounter-timeline"),
    path("audit/access/", views_audit.access_log, name="access-log"),
]
