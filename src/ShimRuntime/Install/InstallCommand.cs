using Csshim.OciSpec;

namespace Csshim.ShimRuntime.Install;

/// <summary>
/// `csshim install [--docker-config FILE] [--containerd-config FILE] [--name NAME] [--dry-run] [-- runtimeArgs...]`:
/// registers csshim as a Docker runtime (merged into daemon.json as `runsc install` does) and shows, or writes into
/// config.toml, the containerd runtime entry that makes the runc shim call csshim and lets the rootfs tar annotations
/// of a Pod through the CRI plugin.
/// </summary>
/// <remarks>
/// runtimeArgs: with `--` the entry's runtimeArgs become exactly the words after it (none removes them); without
/// `--` an existing entry keeps its runtimeArgs, so re-running the installer never drops arguments an operator set.
/// </remarks>
public static class InstallCommand
{
    public const string DefaultDockerConfig = "/etc/docker/daemon.json";
    public const string DefaultName = "csshim";

    private const string Usage =
        "usage: csshim install [--docker-config FILE | --no-docker] [--containerd-config FILE] [--name NAME] [--dry-run] [-- runtimeArgs...]";

    /// <summary>containerd reads config.toml only when it starts; the annotation patterns matter only to the CRI plugin.</summary>
    private static string ContainerdRestartNote(string name, string self) =>
        "containerd: restart containerd to pick it up (systemctl restart containerd); running containers keep going. " +
        $"Kubernetes: a RuntimeClass with handler \"{name}\"; ctr: --runc-binary {self}";

    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, string selfPath)
    {
        InstallOptions options;
        try
        {
            options = InstallOptions.Parse(args);
        }
        catch (InstallUsageException e)
        {
            stderr.WriteLine($"csshim install: {e.Message}");
            stderr.WriteLine(Usage);
            return 2;
        }
        if (options.Help)
        {
            stdout.WriteLine(Usage);
            return 0;
        }
        var self = Path.GetFullPath(selfPath);
        try
        {
            if (options.DockerConfig is null)
            {
                stdout.WriteLine("docker: skipped (--no-docker)");
            }
            else
            {
                var docker = DockerDaemonConfig.Register(options.DockerConfig, options.Name, self, options.RuntimeArgs, options.DryRun);
                stdout.WriteLine(docker.Describe(options.DryRun));
                if (docker.Changed && !options.DryRun)
                    stdout.WriteLine("docker: reload dockerd to pick it up (systemctl reload docker, or kill -HUP the dockerd pid); " +
                                     $"then docker run --runtime={options.Name} ...");
            }

            if (options.ContainerdConfig is null)
            {
                stdout.WriteLine();
                stdout.WriteLine("containerd 1.6/1.7 (config.toml version = 2): add these tables (csshim install --containerd-config FILE does it):");
                stdout.Write(ContainerdConfig.Snippet(ContainerdConfig.Version2Plugin, options.Name, self));
                stdout.WriteLine("containerd 2.x (version = 3):");
                stdout.Write(ContainerdConfig.Snippet(ContainerdConfig.Version3Plugin, options.Name, self));
                stdout.WriteLine(ContainerdRestartNote(options.Name, self));
            }
            else
            {
                var containerd = ContainerdConfig.Register(options.ContainerdConfig, options.Name, self, options.DryRun);
                foreach (var warning in containerd.Warnings) stderr.WriteLine($"csshim install: warning: {warning}");
                stdout.WriteLine(containerd.Describe(options.DryRun));
                if (containerd.Changed && !options.DryRun) stdout.WriteLine(ContainerdRestartNote(options.Name, self));
            }
            return 0;
        }
        catch (InstallException e)
        {
            stderr.WriteLine($"csshim install: {e.Message}");
            return 1;
        }
    }
}

/// <summary>A reason csshim install cannot proceed; the message names the file and the problem.</summary>
public sealed class InstallException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class InstallUsageException(string message) : Exception(message);

/// <summary>DockerConfig is null with --no-docker (a host without Docker gets no /etc/docker/daemon.json).</summary>
internal sealed record InstallOptions(
    string? DockerConfig, string? ContainerdConfig, string Name, bool DryRun, IReadOnlyList<string>? RuntimeArgs, bool Help)
{
    public static InstallOptions Parse(IReadOnlyList<string> args)
    {
        var line = SubcommandLine.Parse("install", args, Cli.CommandTable.InstallFlags, reorders: false);
        if (line.IsSet("help")) return new InstallOptions("", null, "", false, null, Help: true);
        if (line.UnknownFlags.Count > 0)
            throw new InstallUsageException($"unknown flag --{line.UnknownFlags[0]} (runtime arguments go after --)");
        if (line.Positionals.Count > 0 && !line.SawTerminator)
            throw new InstallUsageException($"unexpected argument \"{line.Positionals[0]}\" (runtime arguments go after --)");
        var name = line.Value("name") ?? InstallCommand.DefaultName;
        if (!IsValidName(name))
            throw new InstallUsageException($"--name \"{name}\": use letters, digits, '_', '-' and '.', starting with a letter or digit");
        if (line.IsSet("no-docker") && line.Has("docker-config"))
            throw new InstallUsageException("--no-docker and --docker-config exclude each other");
        var docker = line.IsSet("no-docker") ? null : line.Value("docker-config") ?? InstallCommand.DefaultDockerConfig;
        var containerd = line.Value("containerd-config");
        if (docker is { Length: 0 } || containerd is { Length: 0 })
            throw new InstallUsageException("config file paths must not be empty");
        return new InstallOptions(docker, containerd, name, line.IsSet("dry-run"),
            line.SawTerminator ? line.Positionals : null, false);
    }

    /// <summary>Names that are valid both as Docker runtime names and, quoted if need be, as TOML keys.</summary>
    private static bool IsValidName(string name) =>
        name.Length > 0 && char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}
