using System.Diagnostics;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Testing;

/// <summary>A node the <see cref="TestKubelet"/> registers and keeps Ready.</summary>
public sealed record TestNode(string Name, string Cpu = "8", string Memory = "32Gi", int Gpus = 0, string GpuResourceName = "nvidia.com/gpu")
{
    /// <summary>Extra node labels (kubernetes.io/hostname, os and arch are always set).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<V1Taint> Taints { get; init; } = [];
}

public sealed record TestKubeletOptions
{
    public IReadOnlyList<TestNode> Nodes { get; init; } = [];

    /// <summary>
    /// Image to local program, e.g. <c>"busybox" -> "/bin/sh"</c>. The program stands in for the image's
    /// entrypoint and for <c>command[0]</c>: it runs with <c>command[1..] + args</c>. An image is matched
    /// exactly, then without its tag or digest. Unknown images leave the container waiting in
    /// ErrImagePull / ImagePullBackOff.
    /// </summary>
    public IReadOnlyDictionary<string, string> Images { get; init; } = new Dictionary<string, string>();

    /// <summary>Image to a factory of the process to run, for programs that need more than a path (e.g. <c>dotnet app.dll</c>). Checked before <see cref="Images"/>.</summary>
    public IReadOnlyDictionary<string, Func<ContainerLaunch, ProcessStartInfo>> ImageLaunchers { get; init; } =
        new Dictionary<string, Func<ContainerLaunch, ProcessStartInfo>>();

    /// <summary>
    /// Acts as a volume provisioner: every Pending PersistentVolumeClaim gets a hostPath PersistentVolume
    /// pre-bound to it (the controller manager's PV binder completes the binding), so pods using claims can
    /// be scheduled.
    /// </summary>
    public bool ProvisionVolumes { get; init; } = true;

    /// <summary>Where pod roots and claim folders live; a new temporary directory by default (deleted on dispose).</summary>
    public string? RootDirectory { get; init; }

    /// <summary>Backoff before restarting a container (doubling, capped at 10 s); the real kubelet starts at 10 s.</summary>
    public TimeSpan RestartBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The most a pod deletion or a probe kill waits between preStop hook + TERM and KILL. Pods ask for their
    /// deletion's grace period (terminationGracePeriodSeconds, 30 by default); tests rarely want to wait that
    /// long for a process that ignores TERM, so it is capped here (10 s by default). The kubelet's 2 s minimum
    /// between TERM and KILL still applies.
    /// </summary>
    public TimeSpan MaxTerminationGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>What <see cref="TestKubeletOptions.ImageLaunchers"/> get to build a process from.</summary>
/// <param name="Pod">The pod.</param>
/// <param name="Container">The container.</param>
/// <param name="Arguments"><c>command[1..] + args</c>, with $(VAR) expanded and container paths replaced by host paths.</param>
/// <param name="Environment">The container's environment (already expanded and path-mapped), plus SYLLABUS_PATH_MAP.</param>
/// <param name="PathMap">Container path to host path, for every volume mount and the termination message file.</param>
/// <param name="WorkingDirectory">The host directory the process starts in.</param>
public sealed record ContainerLaunch(
    V1Pod Pod,
    V1Container Container,
    IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyDictionary<string, string> PathMap,
    string WorkingDirectory)
{
    /// <summary>The pod's IP (status.podIP): a loopback address of its own that the program should bind instead of 0.0.0.0.</summary>
    public string PodIp { get; init; } = string.Empty;
}
