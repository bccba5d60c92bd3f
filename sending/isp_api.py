"""Sink inspection API for ISP behaviour: the sink's rules and what reached the inbound MX."""

from django.http import Http404
from rest_framework.response import Response

from sending import services
from sending.models import InboundMessage, SinkRule
from sending.sink_api import _bounded_int, read_window
from sending.sink_api_base import SinkApiView


def summarize_rule(rule):
    return {
        "id": rule.pk,
        "pattern": rule.pattern,
        "behaviour": rule.behaviour,
        "smtp_code": rule.smtp_code,
        "enhanced_status": rule.enhanced_status,
        "message": rule.message,
        "delay_seconds": rule.delay_seconds,
        "priority": rule.priority,
        "active": rule.active,
        "created_at": rule.created_at.isoformat(),
    }


class RuleListView(SinkApiView):
    """GET lists the sink's rules in the order they are tried; POST creates one from a JSON object."""

    def get(self, request):
        return Response({"rules": [summarize_rule(rule) for rule in SinkRule.objects.all()]})

    def post(self, request):
        if not isinstance(request.data, dict):
            return Response({"error": "The body must be a JSON object."}, status=400)
        try:
            rule = services.save_sink_rule(request.data)
        except services.InvalidSinkRule as error:
            return Response({"error": str(error), "field": error.field}, status=400)
        return Response(summarize_rule(rule), status=201)


class RuleDetailView(SinkApiView):
    """GET shows one rule, PATCH changes the given fields, DELETE removes it."""

    def get(self, request, rule_id):
        return Response(summarize_rule(_get_rule(rule_id)))

    def patch(self, request, rule_id):
        rule = _get_rule(rule_id)
        if not isinstance(request.data, dict):
            return Response({"error": "The body must be a JSON object."}, status=400)
        try:
            rule = services.save_sink_rule(request.data, rule)
        except services.InvalidSinkRule as error:
            return Response({"error": str(error), "field": error.field}, status=400)
        return Response(summarize_rule(rule))

    def delete(self, request, rule_id):
        if not services.delete_sink_rule(rule_id):
            raise Http404(f"No sink rule {rule_id}.")
        return Response(status=204)


def _get_rule(rule_id):
    rule = SinkRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404(f"No sink rule {rule_id}.")
    return rule


def summarize_inbound(inbound):
    return {
        "id": inbound.pk,
        "received_at": inbound.received_at.isoformat(),
        "source_ip": inbound.peer_ip,
        "mail_from": inbound.mail_from,
        "rcpt_to": inbound.rcpt_to,
        "subject": inbound.subject,
        "size": inbound.size,
        "status": inbound.status,
        "verdict": inbound.verdict,
        "delivery": inbound.delivery_id,
        "recipient": inbound.recipient_id,
        "details": inbound.details,
        "error": inbound.error,
    }


class InboundListView(SinkApiView):
    """GET lists messages that reached the inbound MX, newest first, filtered by `verdict` and `delivery`."""

    def get(self, request):
        params = request.query_params
        queryset = InboundMessage.objects.defer("raw")
        verdict = params.get("verdict", "")
        if verdict and verdict not in InboundMessage.Verdict.values:
            return Response({"error": f"verdict must be one of {', '.join(InboundMessage.Verdict.values)}."}, status=400)
        try:
            delivery = _bounded_int(params.get("delivery"), None, 0, 10**12, "delivery")
            limit, offset = read_window(params)
        except ValueError as error:
            return Response({"error": str(error)}, status=400)

        if verdict:
            queryset = queryset.filter(verdict=verdict)
        if delivery is not None:
            queryset = queryset.filter(delivery_id=delivery)
        total = queryset.count()
        items = [summarize_inbound(inbound) for inbound in queryset[offset : offset + limit]]
        return Response({"total": total, "offset": offset, "limit": limit, "messages": items})


class InboundDetailView(SinkApiView):
    def get(self, request, inbound_id):
        inbound = InboundMessage.objects.filter(pk=inbound_id).first()
        if inbound is None:
            raise Http404(f"No inbound message {inbound_id}.")
        detail = summarize_inbound(inbound)
        detail["raw"] = bytes(inbound.raw).decode("utf-8", "replace")
        return Response(detail)
