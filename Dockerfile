FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY adapters adapters
COPY handlers handlers
COPY readside readside
COPY projections projections
COPY streams streams
COPY app app
COPY workers workers
COPY knowledge knowledge
COPY swarm swarm
COPY entrypoints entrypoints
COPY migrations migrations
COPY policies policies
# torch from PyTorch's CPU index: PyPI's Linux wheel of the same version carries CUDA (GBs).
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu .
# The API listens on all interfaces inside the container; publish the port deliberately.
CMD ["karma", "serve", "--host", "0.0.0.0", "--port", "8000"]
