using System.CommandLine;
using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Kubectl;

/// <summary>Where the plugin writes, and whether it may colour its output (only on a terminal).</summary>
internal sealed record PluginConsole(TextWriter Out, TextWriter Error, bool Color);

/// <summary>
/// <c>kubectl syllabus</c>: status, promote, abort, retry, pin and unpin of a ModelDeployment. Each command is a GET
/// and at most one merge patch, the same a user could send with kubectl (shown in each command's help).
/// </summary>
internal static class PluginCommands
{
    public const int Success = 0;
    public const int Failure = 1;

    public static RootCommand CreateRoot(PluginConsole console, Func<KubeOptions, KubeConnection> connect, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentNullException.ThrowIfNull(time);

        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)", Recursive = true };
        var context = new Option<string?>("--context") { Description = "The kubeconfig context to use (default: its current-context)", Recursive = true };
        var ns = new Option<string?>("--namespace", "-n") { Description = "Namespace of the ModelDeployment (default: the context's namespace, else default)", Recursive = true };

        var root = new RootCommand("kubectl syllabus: inspect and steer Syllabus ModelDeployments (canary analysis, promotion, rollback, pinning)");
        root.Add(kubeconfig);
        root.Add(context);
        root.Add(ns);

        // Every command names one ModelDeployment first; it is checked before the kubeconfig is read.
        Command Define(string name, string description, Func<ParseResult, ModelDeploymentReference, ModelDeploymentApi, string, CancellationToken, Task> run, params Argument[] more)
        {
            var target = new Argument<string>("md/NAME") { Description = "The ModelDeployment: md/NAME, modeldeployment/NAME or NAME" };
            var command = new Command(name, description) { target };
            foreach (var argument in more)
            {
                command.Add(argument);
            }

            command.SetAction(async (parse, ct) =>
            {
                try
                {
                    var reference = ModelDeploymentReference.Parse(parse.GetValue(target)!);
                    using var connection = connect(new KubeOptions(parse.GetValue(kubeconfig), parse.GetValue(context), parse.GetValue(ns)));
                    await run(parse, reference, new ModelDeploymentApi(connection), connection.Namespace, ct);
                    return Success;
                }
                catch (PluginException e)
                {
                    await console.Error.WriteLineAsync($"error: {e.Message}");
                    return Failure;
                }
            });
            root.Add(command);
            return command;
        }

        Define("status", """
            Show a ModelDeployment as a tree: phase and conditions, the stable and canary revisions with their TrainingRun,
            model URI and canary weight, the current analysis with each metric's counts and latest measurements, and the
            revision history. The same data as: kubectl get modeldeployment/NAME -o yaml
            """, async (_, reference, api, _, ct) =>
        {
            var md = await api.GetAsync(reference, ct);
            await console.Out.WriteAsync(StatusRenderer.Render(md, time.GetUtcNow(), console.Color));
        });

        foreach (var action in new[] { ModelDeploymentActions.Promote, ModelDeploymentActions.Abort, ModelDeploymentActions.Retry })
        {
            Define(action, ActionHelp(action), async (_, reference, api, namespaceName, ct) =>
            {
                var md = await api.GetAsync(reference, ct);
                var effect = ActionEffect(md, action, reference);
                await api.MergePatchAsync(reference, ModelDeploymentPatches.Action(action), ct);
                await console.Out.WriteLineAsync($"{reference.Display} in {namespaceName}: {action} requested ({ModelDeploymentActions.Annotation}={action}); {effect}");
                await console.Out.WriteLineAsync("The operator acts on it and removes the annotation; follow it with: kubectl syllabus status " + reference.Display);
            });
        }

        var revision = new Argument<int>("REV")
        {
            Description = "A revision number from status.revisions (kubectl syllabus status lists them)",
            CustomParser = result =>
            {
                var token = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
                if (int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1)
                {
                    return number;
                }

                result.AddError($"REV must be a revision number (1 or more), not '{token}'");
                return 0;
            },
        };
        Define("pin", $"""
            Serve exactly revision REV from the revision history, canary off, until unpinned (sets spec.pinnedRevision: a
            declarative rollback; keep it in Git by committing the same field). Refuses a revision the history no longer keeps.
            The same API call as: {ModelDeploymentPatches.KubectlPin("NAME", 3)}
            """, async (parse, reference, api, namespaceName, ct) =>
        {
            var rev = parse.GetValue(revision);
            var md = await api.GetAsync(reference, ct);
            var kept = md.Status?.Revisions ?? [];
            var target = kept.FirstOrDefault(r => r.Revision == rev)
                ?? throw new PluginException($"revision {rev} is not in the revision history of {reference.Display} in {namespaceName} (kept: {Kept(kept)}); only a kept revision can be pinned");
            await api.MergePatchAsync(reference, ModelDeploymentPatches.Pin(rev), ct);
            await console.Out.WriteLineAsync($"{reference.Display} in {namespaceName}: pinned to revision {rev}{Describe(target)} (spec.pinnedRevision={rev}); automatic promotion waits until: kubectl syllabus unpin {reference.Display}");
        }, revision);

        Define("unpin", $"""
            Remove spec.pinnedRevision: the pinned revision stays stable and normal promotion resumes.
            The same API call as: {ModelDeploymentPatches.KubectlUnpin("NAME")}
            """, async (_, reference, api, namespaceName, ct) =>
        {
            var md = await api.GetAsync(reference, ct);
            if (md.Spec.PinnedRevision is null)
            {
                await console.Out.WriteLineAsync($"{reference.Display} in {namespaceName}: not pinned (spec.pinnedRevision is unset); nothing to change");
                return;
            }

            await api.MergePatchAsync(reference, ModelDeploymentPatches.Unpin(), ct);
            await console.Out.WriteLineAsync($"{reference.Display} in {namespaceName}: unpinned (was revision {md.Spec.PinnedRevision}); automatic promotion resumes");
        });

        return root;
    }

    private static string ActionHelp(string action)
    {
        var what = action switch
        {
            ModelDeploymentActions.Promote => "Promote the canary now, skipping the rest of its analysis.",
            ModelDeploymentActions.Abort => "Abort the canary: traffic returns to the stable revision and the candidate is recorded as Rejected.",
            _ => "Retry the newest Rejected or RolledBack candidate (a rejected candidate is otherwise not retried until a new one appears).",
        };
        return $"""
            {what}
            Sets the annotation {ModelDeploymentActions.Annotation}={action}, which the operator removes once handled. The same API call as:
              {ModelDeploymentPatches.KubectlAction("NAME", action)}
            """;
    }

    /// <summary>What the operator will do with the action, or why it would ignore it (then nothing is sent).</summary>
    private static string ActionEffect(ModelDeployment md, string action, ModelDeploymentReference reference)
    {
        var s = md.Status;
        if (md.Spec.PinnedRevision is { } pin)
        {
            throw new PluginException($"{reference.Display} is pinned to revision {pin} (spec.pinnedRevision); {action} applies to automatic promotion only: unpin it first (kubectl syllabus unpin {reference.Display})");
        }

        switch (action)
        {
            case ModelDeploymentActions.Promote or ModelDeploymentActions.Abort:
                if (s?.CanaryRevision is not { } canary)
                {
                    throw new PluginException($"{reference.Display} has no canary to {action} (phase {s?.Phase ?? "unknown"}, stable revision {(s?.StableRevision is { } st ? st.ToString(CultureInfo.InvariantCulture) : "none")})");
                }

                return action == ModelDeploymentActions.Promote
                    ? $"canary revision {canary} becomes stable"
                    : $"canary revision {canary} is rejected and traffic returns to revision {s.StableRevision}";
            default:
                var rejected = (s?.Revisions ?? []).Where(r => r.Outcome is RevisionOutcomes.Rejected or RevisionOutcomes.RolledBack).OrderByDescending(r => r.Revision).FirstOrDefault()
                    ?? throw new PluginException($"{reference.Display} has no Rejected or RolledBack revision to retry (revisions: {Kept(s?.Revisions ?? [])})");
                return $"the TrainingRun {rejected.TrainingRun} of revision {rejected.Revision} ({rejected.Outcome}) is considered again as a candidate";
        }
    }

    private static string Kept(IReadOnlyCollection<ModelRevision> revisions) => revisions.Count == 0
        ? "none"
        : string.Join(", ", revisions.OrderByDescending(r => r.Revision).Select(r => $"{r.Revision} ({r.Outcome ?? "no outcome"})"));

    private static string Describe(ModelRevision r) =>
        r.TrainingRun is { Length: > 0 } run ? $" (TrainingRun {run}{(r.ModelUri is { Length: > 0 } uri ? ", " + uri : "")})" : "";
}
