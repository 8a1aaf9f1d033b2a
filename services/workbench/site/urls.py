"""URL map. A second work queue (e.g. denials) adds its own views module and one include here."""

from django.contrib.auth import views as auth_views
from django.urls import path

from services.workbench import views_audit, views_claims, views_dashboard, views_review, views_worklist
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
    path("denials/", views_worklist.worklist, name="worklist"),
    path("denials/assign/", views_worklist.bulk_assign, name="worklist-assign"),
    path("denials/<str:work_item_id>/", views_worklist.item, name="work-item"),
    path("denials/<str:work_item_id>/act/", views_worklist.act, name="work-item-act"),
    path("denials/<str:work_item_id>/letter/", views_worklist.letter, name="work-item-letter"),
    path("denials/<str:work_item_id>/packets/<str:sha256>/", views_worklist.packet, name="work-item-packet"),
    path("dashboard/", views_dashboard.page, name="dashboard"),
    path("dashboard/<slug:key>.svg", views_dashboard.chart_svg, name="dashboard-svg"),
    path("dashboard/<slug:key>.csv", views_dashboard.chart_csv, name="dashboard-csv"),
    path("audit/access/", views_audit.access_log, name="access-log"),
]
