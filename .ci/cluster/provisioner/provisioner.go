// Package provisioner is the test cluster's dynamic volume provisioner: every claim of its StorageClass
// gets a fresh directory under one host directory, handed to the pod as a hostPath PersistentVolume pinned
// to the node. It does what rancher's local-path-provisioner does for kind and OrbStack: directories are
// mode 0777, so a pod's non-root user can write there (the kubelet applies no fsGroup to hostPath volumes),
// and a PersistentVolume reclaimed with Delete takes its directory with it.
//
// It runs on the node as a host process, so it needs no helper pod to create or remove directories.
package provisioner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// hostPathProvisioner implements controller.Provisioner.
type hostPathProvisioner struct {
	root     string // every volume is a directory directly under it
	nodeName string // the one node, whose hostname label every PersistentVolume requires
}

func (p *hostPathProvisioner) Provision(
	ctx context.Context, options controller.ProvisionOptions,
) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	claim := options.PVC
	if claim.Spec.Selector != nil {
		return nil, controller.ProvisioningFinished, errors.New("claims with a selector are not supported")
	}
	node := options.SelectedNodeName
	if node == "" {
		node = p.nodeName
	}
	// <volume>_<namespace>_<claim>, like local-path-provisioner, so a person can tell them apart on disk.
	dir := filepath.Join(p.root, strings.Join([]string{options.PVName, claim.Namespace, claim.Name}, "_"))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	// MkdirAll's mode passes through the umask; the mode is the point, so set it outright.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	klog.FromContext(ctx).Info("provisioned", "volume", options.PVName, "claim", claim.Namespace+"/"+claim.Name, "dir", dir)

	hostPathType := v1.HostPathDirectoryOrCreate
	reclaim := v1.PersistentVolumeReclaimDelete
	if options.StorageClass.ReclaimPolicy != nil {
		reclaim = *options.StorageClass.ReclaimPolicy
	}
	volumeMode := v1.PersistentVolumeFilesystem
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: options.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    &volumeMode,
			MountOptions:                  options.StorageClass.MountOptions,
			Capacity: v1.ResourceList{
				v1.ResourceStorage: claim.Spec.Resources.Requests[v1.ResourceStorage],
			},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
			NodeAffinity: &v1.VolumeNodeAffinity{
				Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{
						Key:      v1.LabelHostname,
						Operator: v1.NodeSelectorOpIn,
						Values:   []string{node},
					}},
				}}},
			},
		},
	}, controller.ProvisioningFinished, nil
}

func (p *hostPathProvisioner) Delete(ctx context.Context, volume *v1.PersistentVolume) error {
	source := volume.Spec.HostPath
	if source == nil {
		return &controller.IgnoredError{Reason: "not a hostPath volume"}
	}
	// Only ever remove a directory this provisioner made: one level below the root.
	if filepath.Dir(filepath.Clean(source.Path)) != p.root {
		return &controller.IgnoredError{Reason: fmt.Sprintf("%s is not under %s", source.Path, p.root)}
	}
	klog.FromContext(ctx).Info("deleting", "volume", volume.Name, "dir", source.Path)
	return os.RemoveAll(source.Path)
}

// NewCommand is the provisioner's command line.
func NewCommand() *cobra.Command {
	var kubeconfig, root, name, nodeName string
	command := &cobra.Command{
		Use:          "local-path-provisioner",
		Short:        "Provision hostPath volumes in directories under --root",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" || nodeName == "" {
				return errors.New("--root and --node-name are required")
			}
			absRoot, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(absRoot, 0o755); err != nil {
				return err
			}
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(config)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			provisioner := &hostPathProvisioner{root: absRoot, nodeName: nodeName}
			controller.NewProvisionController(ctx, client, name, provisioner,
				controller.LeaderElection(false),
				// Remove the PersistentVolume's directory before the object goes, as local-path does.
				controller.AddFinalizer(true),
			).Run(ctx)
			return nil
		},
	}
	flags := command.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster")
	flags.StringVar(&root, "root", "", "host directory holding one directory per volume")
	flags.StringVar(&name, "provisioner-name", "medallion.dev/local-path", "the StorageClass provisioner field it serves")
	flags.StringVar(&nodeName, "node-name", "", "the node every volume is pinned to")
	// klog's -v and friends, for the controller library's logs.
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	flags.AddGoFlagSet(klogFlags)
	return command
}
