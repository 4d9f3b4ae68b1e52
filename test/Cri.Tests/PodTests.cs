using System.Security.Cryptography;
using Csshim.Cri.Api;
using Csshim.Cri.Rig;
using Csshim.E2E.Rig;
using Grpc.Core;

namespace Csshim.Cri;

/// <summary>
/// Pods on the csshim handler of a containerd whose config is the stock one plus `csshim install`, driven over the CRI
/// socket as a kubelet drives it; one node per runtime csshim is configured with. The checks are about what a
/// container sees, what a snapshot holds and what is left afterwards, not about how csshim stages a rootfs.
/// </summary>
[TestFixtureSource(nameof(Runtimes)), Category("CRI"), NonParallelizable]
public sealed class PodTests(string runtime)
{
    public static IEnumerable<TestFixtureData> Runtimes()
    {
        yield return new TestFixtureData(E2EEnv.Runc).SetArgDisplayNames("runc");
        yield return new TestFixtureData(E2EEnv.Runsc).SetArgDisplayNames("runsc-2022");
        yield return new TestFixtureData(Path.Combine(E2EEnv.RepoRoot, ".tools", "runsc-2024", "usr", "bin", "runsc")).SetArgDisplayNames("runsc-2024");
    }

    CriNode _node = null!;
    bool IsRunsc => runtime.EndsWith("runsc", StringComparison.Ordinal);

    [OneTimeSetUp]
    public void StartNode() => _node = CriNode.Start(runtime);

    [OneTimeTearDown]
    public void StopNode() => _node?.Dispose();

    [Test]
    public void ContainerRunsAndExecsThroughCsshim()
    {
        using var pod = _node.RunPod("lifecycle");
        var web = pod.Run("web", "echo started; exec sleep 1000");

        var exec = pod.Exec(web, "sh", "-c", "echo out; echo err >&2; exit 3");
        Assert.That(exec, Is.EqualTo((3, "out\n", "err\n")));
        Snapshot.WaitFor(() => pod.Log(web).Contains("stdout F started"), "the container's output in its CRI log");
        Assert.That(_node.CsshimStateOf([web]), Is.Not.Empty,
            "csshim keeps state for every container it creates: it is the handler's runtime");
        if (IsRunsc)
            Assert.That(Leftovers.ProcessesMentioning(pod.Id).Select(Leftovers.CommandLine).Where(c => c.StartsWith("runsc-sandbox")), Is.Not.Empty,
                "the pod runs in a runsc sandbox: csshim's config reached it through containerd");
    }

    /// <summary>A container's end is the shim's to see: its own exit status, and StopContainer's SIGTERM.</summary>
    [Test]
    public void ExitStatusAndStopReachCri()
    {
        using var pod = _node.RunPod("exits");
        var quits = pod.Run("quits", "exit 7");
        Snapshot.WaitFor(() => pod.Status(quits).State == ContainerState.ContainerExited, "the container that exits 7 to be seen exited");
        Assert.That(pod.Status(quits).ExitCode, Is.EqualTo(7));

        // PID 1 of its namespace: the kernel delivers SIGTERM only to a handler, which exits 143 as a killed shell would.
        var sleeper = pod.Run("sleeper", "trap 'exit 143' TERM; sleep 1000 & wait");
        Snapshot.WaitFor(() => pod.Exec(sleeper, "true").ExitCode == 0, "the sleeper to run");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        pod.Stop(sleeper, graceSeconds: 30);
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "SIGTERM reached the container: no SIGKILL after the grace period");
        Assert.That(pod.Status(sleeper), Has.Property("State").EqualTo(ContainerState.ContainerExited).And.Property("ExitCode").EqualTo(143));
    }

    /// <summary>The round trip: snapshot a pod's container with `csshim tar rootfs-upper` (runtime root
    /// /run/containerd/runc/k8s.io), remove the pod, start a new pod whose annotation names the archive for container
    /// `web`: web starts with the change, its sibling does not.</summary>
    [Test]
    public void PodAnnotationRestoresIntoTheNamedContainerOnly()
    {
        var archive = SnapshotOfWriter("snap-web");

        using var pod = _node.RunPod("restored", new Dictionary<string, string> { ["dev.gvisor.tar.rootfs.upper.web"] = archive });
        var web = pod.Run("web", "exec sleep 1000");
        var side = pod.Run("side", "exec sleep 1000");
        Assert.That(pod.Exec(web, "cat", "/dir/file"), Is.EqualTo((0, "hello\n", "")));
        Assert.That(pod.Exec(side, "test", "-e", "/dir/file").ExitCode, Is.EqualTo(1), "the archive is web's only");
        pod.Remove();
        Assert.That(_node.LeftoversOf(pod.Ids), Is.Empty);
    }

    /// <summary>The per-container pin `dev.csshim.tar.rootfs.upper.sha256.NAME` goes with `dev.gvisor.tar.rootfs.upper.NAME`:
    /// the right digest restores, another one is refused (at StartContainer, see <see cref="RefusedArchiveIsTheStartContainerError"/>).</summary>
    [Test]
    public void PerContainerDigestPinIsChecked()
    {
        var archive = SnapshotOfWriter("snap-pin");
        var digest = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(archive)));

        using (var pinned = _node.RunPod("pinned", new Dictionary<string, string>
               {
                   ["dev.gvisor.tar.rootfs.upper.web"] = archive,
                   ["dev.csshim.tar.rootfs.upper.sha256.web"] = digest,
               }))
        {
            var web = pinned.Run("web", "exec sleep 1000");
            Assert.That(pinned.Exec(web, "cat", "/dir/file"), Is.EqualTo((0, "hello\n", "")));
        }

        var wrong = new string('0', 64);
        using var mispinned = _node.RunPod("mispinned", new Dictionary<string, string>
        {
            ["dev.gvisor.tar.rootfs.upper.web"] = archive,
            ["dev.csshim.tar.rootfs.upper.sha256.web"] = wrong,
        });
        var web2 = mispinned.Create("web", "exec sleep 1000");
        var refused = Assert.Throws<RpcException>(() => mispinned.Start(web2));
        Assert.That(refused!.Status.Detail, Does.Contain("csshim: rootfs upper archive").And.Contain($"has sha256 {digest}, but {wrong} is pinned"),
            refused.Status.ToString());
    }

    /// <summary>A refused archive fails the container with csshim's reason in the error a kubelet reports, and leaves
    /// nothing behind once the pod is gone. containerd 1.6's CRI makes the runtime's container (the OCI `create`,
    /// where csshim reads the annotation) in StartContainer: CreateContainer only records the container.</summary>
    [Test]
    public void RefusedArchiveIsTheStartContainerError()
    {
        var missing = Path.Combine(_node.Dir, "no-such-snapshot.tar");
        using var pod = _node.RunPod("refused", new Dictionary<string, string> { ["dev.gvisor.tar.rootfs.upper.web"] = missing });
        var web = pod.Create("web", "exec sleep 1000");
        var refused = Assert.Throws<RpcException>(() => pod.Start(web));
        Assert.That(refused!.Status.Detail, Does.Contain($"csshim: cannot open rootfs upper archive {missing}: No such file or directory"),
            refused.Status.ToString());
        pod.Remove();
        Assert.That(_node.LeftoversOf(pod.Ids), Is.Empty);
    }

    /// <summary>StopPodSandbox + RemovePodSandbox of a pod with running containers: no mount, no csshim state, no shim,
    /// sandbox or proxy process, no runtime container is left.</summary>
    [Test]
    public void RemovedPodLeavesNothing()
    {
        using var pod = _node.RunPod("removed");
        pod.Run("web", "mkdir /dir; echo hello > /dir/file; exec sleep 1000");
        pod.Run("side", "exec sleep 1000");
        Assert.That(_node.LeftoversOf(pod.Ids), Is.Not.Empty, "a running pod is seen by the leftover check");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        pod.Remove();
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "removing a pod does not wait for timeouts");
        Assert.That(_node.LeftoversOf(pod.Ids), Is.Empty);
    }

    /// <summary>A pod whose container `web` wrote /dir/file, snapshotted while it runs, then removed.</summary>
    string SnapshotOfWriter(string name)
    {
        var archive = Path.Combine(_node.Dir, name + ".tar");
        using var pod = _node.RunPod(name);
        var web = pod.Run("web", Snapshot.WriterScript);
        Snapshot.WaitFor(() => pod.Exec(web, "cat", "/dir/file").Stdout == "hello\n", "web to write /dir/file");
        var tar = _node.RunCsshim("--root", CriNode.RuntimeRoot, "tar", "rootfs-upper", "--file", archive, web);
        Assert.That(tar.ExitCode, Is.EqualTo(0), tar.ToString());
        Snapshot.AssertHoldsDirFile(archive);
        return archive;
    }
}
