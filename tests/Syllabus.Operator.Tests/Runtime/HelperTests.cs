using k8s.Models;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class ConditionsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Adding_a_condition_is_a_change_with_the_given_time()
    {
        var conditions = new List<V1Condition>();
        Assert.True(Conditions.SetCondition(conditions, "Ready", Conditions.Unknown, "Pending", "waiting", 1, T0));
        var c = Assert.Single(conditions);
        Assert.Equal(("Ready", "Unknown", "Pending", "waiting", 1L, T0.UtcDateTime), (c.Type, c.Status, c.Reason, c.Message, c.ObservedGeneration!.Value, c.LastTransitionTime));
    }

    [Fact]
    public void Setting_the_same_values_again_changes_nothing()
    {
        var conditions = new List<V1Condition>();
        Conditions.SetCondition(conditions, "Ready", Conditions.True, "Running", "ok", 2, T0);
        Assert.False(Conditions.SetCondition(conditions, "Ready", Conditions.True, "Running", "ok", 2, T0.AddMinutes(5)));
        Assert.Equal(T0.UtcDateTime, conditions[0].LastTransitionTime);
    }

    [Fact]
    public void Same_status_keeps_lastTransitionTime_while_reason_message_and_generation_update()
    {
        var conditions = new List<V1Condition>();
        Conditions.SetCondition(conditions, "Ready", Conditions.False, "Pending", "a", 1, T0);
        Assert.True(Conditions.SetCondition(conditions, "Ready", Conditions.False, "Failed", "b", 2, T0.AddMinutes(1)));
        var c = conditions[0];
        Assert.Equal(("Failed", "b", 2L, T0.UtcDateTime), (c.Reason, c.Message, c.ObservedGeneration!.Value, c.LastTransitionTime));
    }

    [Fact]
    public void A_status_change_moves_lastTransitionTime()
    {
        var conditions = new List<V1Condition>();
        Conditions.SetCondition(conditions, "Ready", Conditions.False, "Pending", "a", 1, T0);
        Assert.True(Conditions.SetCondition(conditions, "Ready", Conditions.True, "Pending", "a", 1, T0.AddMinutes(1)));
        Assert.Equal(T0.AddMinutes(1).UtcDateTime, conditions[0].LastTransitionTime);
        Assert.True(Conditions.IsTrue(conditions, "Ready"));
        Assert.False(Conditions.IsFalse(conditions, "Ready"));
    }

    [Fact]
    public void Conditions_of_other_types_are_left_alone()
    {
        var conditions = new List<V1Condition>();
        Conditions.SetCondition(conditions, "Ready", Conditions.True, "Ok", "", 1, T0);
        Conditions.SetCondition(conditions, "Drifted", Conditions.False, "Stable", "", 1, T0);
        Assert.Equal(["Ready", "Drifted"], conditions.Select(c => c.Type));
        Assert.True(Conditions.Remove(conditions, "Ready"));
        Assert.False(Conditions.Remove(conditions, "Ready"));
        Assert.Equal("Drifted", Assert.Single(conditions).Type);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("")]
    [InlineData("Yes")]
    public void An_invalid_status_is_rejected_with_its_value(string status)
    {
        var e = Assert.Throws<ArgumentException>(() => Conditions.SetCondition([], "Ready", status, "R", "", null, T0));
        Assert.Contains($"'{status}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_reason_is_rejected() =>
        Assert.Throws<ArgumentException>(() => Conditions.SetCondition([], "Ready", Conditions.True, "", "", null, T0));
}

public sealed class OwnerReferencesTests
{
    [Fact]
    public void Sets_one_controller_reference_from_the_owner_type_and_is_idempotent()
    {
        var owner = ConfigMap("ns", "owner", "uid-1");
        var child = new V1Job { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = "ns" } };

        OwnerReferences.SetControllerReference(owner, child);
        OwnerReferences.SetControllerReference(owner, child);

        var r = Assert.Single(child.Metadata.OwnerReferences);
        Assert.Equal(("v1", "ConfigMap", "owner", "uid-1", true, true), (r.ApiVersion, r.Kind, r.Name, r.Uid, r.Controller, r.BlockOwnerDeletion));
        Assert.True(OwnerReferences.IsControlledBy(child, owner));
        Assert.Same(r, OwnerReferences.GetControllerOf(child));
    }

    [Fact]
    public void Keeps_other_non_controller_references()
    {
        var child = new V1Job { Metadata = new V1ObjectMeta { Name = "c", NamespaceProperty = "ns", OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Secret", Name = "s", Uid = "u0" }] } };
        OwnerReferences.SetControllerReference(new V1Deployment { Metadata = new V1ObjectMeta { Name = "d", NamespaceProperty = "ns", Uid = "u1" } }, child);
        Assert.Equal(2, child.Metadata.OwnerReferences.Count);
        Assert.Equal("apps/v1", OwnerReferences.GetControllerOf(child)!.ApiVersion);
    }

    [Fact]
    public void Refuses_a_child_already_controlled_by_another_owner()
    {
        var child = new V1Job { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = "ns" } };
        OwnerReferences.SetControllerReference(ConfigMap("ns", "first", "uid-1"), child);
        var e = Assert.Throws<InvalidOperationException>(() => OwnerReferences.SetControllerReference(ConfigMap("ns", "second", "uid-2"), child));
        Assert.Contains("first", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_cross_namespace_and_owners_without_uid()
    {
        var child = new V1Job { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = "other" } };
        Assert.Throws<ArgumentException>(() => OwnerReferences.SetControllerReference(ConfigMap("ns", "o", "uid"), child));
        Assert.Throws<ArgumentException>(() => OwnerReferences.SetControllerReference(ConfigMap("other", "o", null), child));
    }

    private static V1ConfigMap ConfigMap(string ns, string name, string? uid) =>
        new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Uid = uid } };
}

public sealed class FinalizersAndPredicatesTests
{
    [Fact]
    public void Finalizer_helpers_report_whether_they_changed_anything()
    {
        var cm = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } };
        Assert.False(Finalizers.Has(cm, "syllabus.dev/cleanup"));
        Assert.True(Finalizers.Add(cm, "syllabus.dev/cleanup"));
        Assert.False(Finalizers.Add(cm, "syllabus.dev/cleanup"));
        Assert.True(Finalizers.Has(cm, "syllabus.dev/cleanup"));
        Assert.True(Finalizers.Remove(cm, "syllabus.dev/cleanup"));
        Assert.False(Finalizers.Remove(cm, "syllabus.dev/cleanup"));
        Assert.Empty(cm.Metadata.Finalizers);
    }

    [Fact]
    public void Status_only_changes_do_not_pass_the_default_predicate()
    {
        var old = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 3, ResourceVersion = "10" } };
        var statusOnly = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 3, ResourceVersion = "11" } };
        var specChange = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 4, ResourceVersion = "12" } };
        var finalizer = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 3, ResourceVersion = "13", Finalizers = ["f"] } };
        var deleting = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 3, ResourceVersion = "14", DeletionTimestamp = DateTime.UtcNow } };
        var labelled = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x", Generation = 3, ResourceVersion = "15", Labels = new Dictionary<string, string> { ["a"] = "b" } } };

        Assert.False(Predicates.GenerationOrMetadataChanged(old, statusOnly));
        Assert.True(Predicates.GenerationOrMetadataChanged(old, specChange));
        Assert.True(Predicates.GenerationOrMetadataChanged(old, finalizer));
        Assert.True(Predicates.GenerationOrMetadataChanged(old, deleting));
        Assert.True(Predicates.GenerationOrMetadataChanged(old, labelled));
        Assert.True(Predicates.Any(old, statusOnly));
    }

    [Fact]
    public void ObjectKey_formats_and_rejects_nameless_objects()
    {
        Assert.Equal("ns/a", ObjectKey.From(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a", NamespaceProperty = "ns" } }).ToString());
        Assert.Equal("a", new ObjectKey(null, "a").ToString());
        Assert.Throws<ArgumentException>(() => ObjectKey.From(new V1ConfigMap { Metadata = new V1ObjectMeta() }));
    }

    [Fact]
    public void ResourceType_reads_the_entity_attribute()
    {
        Assert.Equal(("batch", "v1", "Job", "jobs", "batch/v1"), (ResourceType<V1Job>.Group, ResourceType<V1Job>.Version, ResourceType<V1Job>.Kind, ResourceType<V1Job>.Plural, ResourceType<V1Job>.ApiVersion));
        Assert.Equal("v1", ResourceType<V1Pod>.ApiVersion);
    }
}

public sealed class MergePatchTests
{
    private static System.Text.Json.Nodes.JsonNode? Json(string text) => System.Text.Json.Nodes.JsonNode.Parse(text);

    [Fact]
    public void Only_changed_members_are_in_the_patch_and_removed_ones_are_null()
    {
        var patch = MergePatch.Diff(
            Json("""{"phase":"Running","attempts":1,"progress":{"epoch":3,"loss":0.5},"note":"x"}"""),
            Json("""{"phase":"Running","attempts":2,"progress":{"epoch":4,"loss":0.5},"startTime":"t"}"""),
            out var changed);
        Assert.True(changed);
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(Json("""{"attempts":2,"progress":{"epoch":4},"startTime":"t","note":null}"""), patch), patch?.ToJsonString());
    }

    [Fact]
    public void Arrays_are_replaced_whole_and_equal_values_give_no_patch()
    {
        var patch = MergePatch.Diff(Json("""{"conditions":[{"type":"A"},{"type":"B"}]}"""), Json("""{"conditions":[{"type":"A"}]}"""), out var changed);
        Assert.True(changed);
        Assert.Equal("""{"conditions":[{"type":"A"}]}""", patch!.ToJsonString());

        Assert.Null(MergePatch.Diff(Json("""{"a":{"b":[1,2]}}"""), Json("""{"a":{"b":[1,2]}}"""), out var same));
        Assert.False(same);
    }

    [Fact]
    public void A_status_written_for_the_first_time_or_removed_is_the_whole_value_or_null()
    {
        Assert.Equal("""{"phase":"Pending"}""", MergePatch.Diff(null, Json("""{"phase":"Pending"}"""), out var created)!.ToJsonString());
        Assert.True(created);
        Assert.Null(MergePatch.Diff(Json("""{"phase":"Pending"}"""), null, out var removed));
        Assert.True(removed);
    }
}
