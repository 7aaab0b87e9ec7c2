// Package imagepush turns one static binary into a one-layer OCI image and pushes it to a registry over
// plain HTTP, with the registry API's monolithic blob upload. The cluster's own images (the pause sandbox
// and CoreDNS) are made this way, so starting the cluster needs no Docker engine and no base image.
package imagepush

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/spf13/cobra"
)

const (
	manifestType = "application/vnd.oci.image.manifest.v1+json"
	configType   = "application/vnd.oci.image.config.v1+json"
	layerType    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

type blob struct {
	data   []byte
	digest string
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// layer is a gzipped tar holding the binary at /<name>, mode 0755, owned by root.
func layer(binary, name string) (compressed blob, diffID string, err error) {
	content, err := os.ReadFile(binary)
	if err != nil {
		return blob{}, "", err
	}
	var tarball bytes.Buffer
	writer := tar.NewWriter(&tarball)
	header := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := writer.WriteHeader(header); err != nil {
		return blob{}, "", err
	}
	if _, err := writer.Write(content); err != nil {
		return blob{}, "", err
	}
	if err := writer.Close(); err != nil {
		return blob{}, "", err
	}
	diffID = newBlob(tarball.Bytes()).digest
	var gzipped bytes.Buffer
	zipper, _ := gzip.NewWriterLevel(&gzipped, gzip.BestSpeed)
	if _, err := zipper.Write(tarball.Bytes()); err != nil {
		return blob{}, "", err
	}
	if err := zipper.Close(); err != nil {
		return blob{}, "", err
	}
	return newBlob(gzipped.Bytes()), diffID, nil
}

type pusher struct {
	base   string // http://host:port/v2/<repository>
	client *http.Client
}

func (p *pusher) do(method, target string, body []byte, contentType string) (*http.Response, error) {
	request, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		request.Header.Set("Content-Type", contentType)
	}
	return p.client.Do(request)
}

func (p *pusher) pushBlob(b blob) error {
	if response, err := p.do(http.MethodHead, p.base+"/blobs/"+b.digest, nil, ""); err == nil {
		response.Body.Close()
		if response.StatusCode == http.StatusOK {
			return nil // already there
		}
	}
	response, err := p.do(http.MethodPost, p.base+"/blobs/uploads/", nil, "")
	if err != nil {
		return err
	}
	response.Body.Close()
	if response.StatusCode != http.StatusAccepted {
		return fmt.Errorf("starting an upload: %s", response.Status)
	}
	location, err := response.Location()
	if err != nil {
		return err
	}
	query := location.Query()
	query.Set("digest", b.digest)
	location.RawQuery = query.Encode()
	response, err = p.do(http.MethodPut, location.String(), b.data, "application/octet-stream")
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusCreated {
		detail, _ := io.ReadAll(response.Body)
		return fmt.Errorf("uploading %s: %s %s", b.digest, response.Status, detail)
	}
	return nil
}

// Push makes the image and pushes it as registry/repository:tag.
func Push(registry, repository, tag, binary string, args []string) error {
	name := "/" + path.Base(binary)
	compressed, diffID, err := layer(binary, name[1:])
	if err != nil {
		return err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": append([]string{name}, args...)},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		return err
	}
	configBlob := newBlob(config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestType,
		"config":        descriptor{configType, configBlob.digest, len(configBlob.data)},
		"layers":        []descriptor{{layerType, compressed.digest, len(compressed.data)}},
	})
	if err != nil {
		return err
	}
	target := url.URL{Scheme: "http", Host: registry, Path: "/v2/" + repository}
	p := &pusher{base: target.String(), client: &http.Client{Timeout: 2 * time.Minute}}
	for _, b := range []blob{compressed, configBlob} {
		if err := p.pushBlob(b); err != nil {
			return err
		}
	}
	response, err := p.do(http.MethodPut, p.base+"/manifests/"+tag, manifest, manifestType)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusCreated {
		detail, _ := io.ReadAll(response.Body)
		return fmt.Errorf("pushing the manifest: %s %s", response.Status, detail)
	}
	return nil
}

// NewCommand is `push-image`.
func NewCommand() *cobra.Command {
	var registry, image string
	command := &cobra.Command{
		Use:          "push-image --registry HOST:PORT --image REPOSITORY:TAG BINARY [ARG...]",
		Short:        "Push a one-layer image whose entrypoint is BINARY (placed at /<its name>) to a plain-HTTP registry",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(_ *cobra.Command, args []string) error {
			repository, tag := image, "latest"
			if i := lastColon(image); i > 0 {
				repository, tag = image[:i], image[i+1:]
			}
			if repository == "" {
				return errors.New("--image is required")
			}
			return Push(registry, repository, tag, args[0], args[1:])
		},
	}
	command.Flags().StringVar(&registry, "registry", "localhost:5000", "registry host:port (plain HTTP)")
	command.Flags().StringVar(&image, "image", "", "repository:tag inside the registry")
	return command
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0 && s[i] != '/'; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}
