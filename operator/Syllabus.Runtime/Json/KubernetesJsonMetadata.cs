using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using k8s;

namespace Syllabus.Runtime.Json;

/// <summary>
/// Source-generated JSON metadata for KubernetesClient's serialiser. <see cref="KubernetesJson"/> keeps one
/// process-wide <see cref="JsonSerializerOptions"/> that resolves every type by reflection; this puts the registered
/// source-generated contexts (the runtime's own for the built-in kinds it binds, and each operator's for its kinds)
/// in front. Under Native AOT, where System.Text.Json's reflection is off, they are the only metadata: a type missing
/// from them fails with System.Text.Json's error naming it, never a silently wrong document. Under the JIT, reflection
/// stays behind them for the rest (test fixtures, tools sharing the process).
/// </summary>
public static class KubernetesJsonMetadata
{
    private static readonly Lock Gate = new();
    private static ImmutableArray<IJsonTypeInfoResolver> contexts = [RuntimeJsonContext.Default];
    private static bool installed;

    /// <summary>Adds <paramref name="context"/> (once) in front of the contexts already added, and installs the chain.</summary>
    /// <exception cref="InvalidOperationException">
    /// Under Native AOT, KubernetesClient serialised something before the chain was installed (its options are then frozen).
    /// </exception>
    public static void Add(IJsonTypeInfoResolver context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (Gate)
        {
            if (!contexts.Contains(context))
            {
                contexts = contexts.Insert(0, context);
            }

            if (!installed)
            {
                KubernetesJson.AddJsonOptions(Install);
                installed = true;
            }
        }
    }

    /// <summary>The registered contexts alone, as Native AOT sees them (tests check that they cover what the operator sends).</summary>
    internal static IJsonTypeInfoResolver SourceGeneratedOnly() => new ChainResolver(fallback: null);

    private static void Install(JsonSerializerOptions options)
    {
        if (options.IsReadOnly)
        {
            if (JsonSerializer.IsReflectionEnabledByDefault)
            {
                // Something in this process (a test fixture, a tool) serialised first; KubernetesClient's reflection
                // resolver keeps working for it, only slower.
                return;
            }

            throw new InvalidOperationException(
                "KubernetesClient serialised JSON before the source-generated metadata was installed; call KubernetesJsonMetadata.Add first thing at start-up.");
        }

        // KubernetesClient's own resolver (reflection) stays behind the contexts only where reflection is on, i.e. not
        // under Native AOT, where only the contexts answer.
        options.TypeInfoResolver = new ChainResolver(JsonSerializer.IsReflectionEnabledByDefault ? options.TypeInfoResolver : null);

        // KubernetesClient adds the non-generic JsonStringEnumConverter, which builds its converter per enum type at run
        // time (not possible under Native AOT); WatchEventType is the one enum on the wire, and this one is ahead of it.
        options.Converters.Insert(0, new JsonStringEnumConverter<WatchEventType>());
    }

    private sealed class ChainResolver(IJsonTypeInfoResolver? fallback) : IJsonTypeInfoResolver
    {
        public JsonTypeInfo? GetTypeInfo(Type type, JsonSerializerOptions options)
        {
            foreach (var context in contexts)
            {
                if (context.GetTypeInfo(type, options) is { } info)
                {
                    return info;
                }
            }

            return fallback?.GetTypeInfo(type, options);
        }
    }
}
