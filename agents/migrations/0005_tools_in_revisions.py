"""Custom tools are versioned with the agent's revisions from now on. Revisions saved before this
did not keep them, and their calls used the tools as they were live: each such revision gets the
agent's enabled tools as they are now."""

from django.db import migrations


def tools_into_revisions(apps, schema_editor):
    AgentRevision = apps.get_model("agents", "AgentRevision")
    Tool = apps.get_model("agents", "Tool")
    for revision in AgentRevision.objects.all().iterator():
        if "tools" in revision.snapshot:
            continue
        enabled = Tool.objects.filter(agent_id=revision.agent_id, is_enabled=True).order_by("name")
        revision.snapshot["tools"] = [
            {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "endpoint": tool.endpoint,
                "secret_env": tool.secret_env,
                "timeout_seconds": tool.timeout_seconds,
            }
            for tool in enabled
        ]
        revision.save(update_fields=["snapshot"])


class Migration(migrations.Migration):
    dependencies = [("agents", "0004_max_live_calls")]

    operations = [migrations.RunPython(tools_into_revisions, migrations.RunPython.noop)]
